"""Tools that drive the served app from outside: benchmarks (a browser, HTTP, class mode) and the
README's screenshots. Not part of the app or of a Space upload; `demo/` keeps only layout and wiring."""
