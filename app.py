"""Entry point: `python app.py` serves the demo locally, and a Hugging Face Space runs the same file.

Host and port come from GRADIO_SERVER_NAME and GRADIO_SERVER_PORT (Spaces set them);
the default is http://127.0.0.1:7860.
"""

from demo.app import build_app, launch

demo = build_app()

if __name__ == "__main__":
    launch(demo)
