"""The Gradio front end: layout and wiring only; every computation lives in `mnistsum`."""
