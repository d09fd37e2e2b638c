"""Overview: what the method is, the update rule, what k means, where each page goes."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from app import plots
from core.curves import curves_frame

PAGES = (  # file, title, icon, what it does
    ("sensitivity.py", "Sensitivity curves", ":material/show_chart:",
     "|f_y| against |ε_y| for any k, beside known losses; hard-versus-easy weights; the full vector of one example"),
    ("playground.py", "Playground", ":material/play_circle:",
     "small networks on 2-D data, one per k, trained from the same start and animated in the browser"),
    ("toy.py", "Toy experiment", ":material/target:", "the paper's 1-D threshold experiment, run live"),
    ("mnist.py", "MNIST runs", ":material/grid_view:", "train MLPs with any k from the browser, watch them learn, compare"),
    ("noise.py", "Label noise", ":material/blur_on:", "the k family against noise-robust losses on noisy labels"),
    ("paper.py", "Paper tables", ":material/table:", "the paper's experiments section as one study, launched and compared"),
)


def method() -> None:
    """The method in a few lines: the rule, what k means, a picture, the code."""
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
    st.latex(r"f_y(\epsilon) = -|\epsilon_y|^{k},")  # two lines: one long formula runs off a phone's screen
    st.latex(r"f_j(\epsilon) = |\epsilon_y|^{k}\,\frac{\epsilon_j^{k}}{\sum_{i \neq y} \epsilon_i^{k}} \quad (j \neq y)")
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

    st.plotly_chart(plots.update_curves(curves_frame([1 / 4, 1, 4], ["mae"])), key="overview_curves")
    st.caption("|f_y| = |ε_y|^k: how hard an example pushes its true-class logit for its error |ε_y|, for three k "
               "(MAE, a noise-robust loss, for comparison). Any k, beside more losses: the Sensitivity curves page.")

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


def pages() -> None:
    """A link to each page with one line on what it does."""
    st.subheader("Pages")
    for name, title, icon, what in PAGES:
        if not (Path(__file__).parent / name).exists():
            continue
        try:  # a title that fits a phone; the description wraps below it
            st.page_link(f"views/{name}", label=title, icon=icon)
        except StreamlitAPIException:  # a page file not (yet) in the navigation
            continue
        st.caption(what)


method()
pages()
