"""Tunable sensitivity to large errors (Keren, Sabato & Schuller, AAAI 2017): the library.

`core` is plain PyTorch/NumPy/pandas and never imports streamlit. Everything the dashboard
does can be done from here, and from the command line (`python -m core.<module> --help`).

    from core.pseudograd import tunable_cross_entropy
    loss = tunable_cross_entropy(model(x), y, k=0.5)   # logs cross-entropy,
    loss.backward()                                    # back-propagates the pseudo-gradient

Submodules are imported explicitly (no eager imports here, so `python -m core.x` runs clean).
"""
