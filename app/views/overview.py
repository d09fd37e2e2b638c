"""Overview: what the method is, the update rule, what k means, where each page goes."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

st.title("Tunable sensitivity to large errors")
st.markdown(
    "A lab for the method of Keren, Sabato & Schuller (AAAI 2017). In cross-entropy training an "
    "example's push on the network is **linear in its prediction error**. The method replaces the "
    "gradient of the loss with respect to the logits by a **pseudo-gradient** with one parameter "
    "$k$, which makes training more or less sensitive to examples with large errors, and keeps "
    "everything else (network, optimizer, back-propagation) as it is."
)

st.subheader("The update rule")
st.markdown(r"For logits $z$, $p = \mathrm{softmax}(z)$ and true class $y$, the prediction bias is "
            r"$\epsilon_j = p_j - \mathbb{1}[j = y]$; cross-entropy's gradient is exactly $\epsilon$. "
            r"The pseudo-gradient is")
st.latex(r"f_y(\epsilon) = -|\epsilon_y|^{k}, \qquad "
         r"f_j(\epsilon) = |\epsilon_y|^{k}\,\frac{\epsilon_j^{k}}{\sum_{i \neq y} \epsilon_i^{k}} \quad (j \neq y)")
st.markdown(r"and is back-propagated as if it were $\partial \mathrm{loss} / \partial z$: "
            r"$g(\theta) = \sum_j \frac{\partial z_j}{\partial \theta} f_j$. Like $\epsilon$, it sums to zero "
            r"over the classes, and it is computed in log space so it never overflows.")

c1, c2, c3 = st.columns(3)
c1.markdown("#### k < 1\n**Insensitive to large errors.** Every misclassified example pushes about as hard "
            "as any other; outliers and mislabeled points cannot dominate. As k → 0 it becomes the "
            "symmetric, noise-robust multi-class unhinged loss.")
c2.markdown("#### k = 1\n**Cross-entropy**, exactly: f = p − onehot(y). The push is proportional to the error.")
c3.markdown("#### k > 1\n**Focused on large errors.** Small errors barely count; the hardest examples "
            "dominate the update. The paper finds this helps deeper networks.")

st.info("For k ≠ 1 the pseudo-gradient is not the gradient of any loss (Lemma 1 of the paper), so the "
        "loss values shown throughout are plain cross-entropy, as in the paper. The learning rate must "
        "be tuned per k, since k changes the scale of the updates.")

st.subheader("Use it in your own training loop")
st.code(
    "from core.pseudograd import tunable_cross_entropy\n\n"
    "for x, y in loader:\n"
    "    optimizer.zero_grad()\n"
    "    loss = tunable_cross_entropy(model(x), y, k=0.5)  # the value is cross-entropy\n"
    "    loss.backward()                                    # the gradient is the pseudo-gradient\n"
    "    optimizer.step()",
    language="python",
)

st.subheader("Pages")
st.page_link("views/sensitivity.py", label="Sensitivity curves: |f_y| against |ε_y| for any k, beside known losses; "
             "hard-versus-easy weights; the full vector of one example", icon=":material/show_chart:")
for path, label, icon in (
    ("views/toy.py", "Toy experiment: the paper's 1-D threshold experiment, run live", ":material/target:"),
    ("views/mnist.py", "MNIST runs: train MLPs with any k from the browser, watch them learn, compare", ":material/grid_view:"),
    ("views/noise.py", "Label noise: the k family against noise-robust losses on noisy labels", ":material/blur_on:"),
):
    if (Path(__file__).parent / Path(path).name).exists():
        st.page_link(path, label=label, icon=icon)
