"""Entry point: `python app.py` serves the demo locally, and a Hugging Face Space runs the same file.

Host and port come from GRADIO_SERVER_NAME and GRADIO_SERVER_PORT (Spaces set them);
the default is http://127.0.0.1:7860.
"""

import torch

from demo.app import PortTaken, build_app, launch
from mnistsum.jobs import StateFolderBusy

try:
    demo = build_app()
except StateFolderBusy as err:  # a second server on a folder in use: say so, and start nothing
    raise SystemExit(f"mnistsum did not start: {err}") from None

if __name__ == "__main__":
    # One thread per request: a prediction is too small to gain from more, and with several
    # visitors at once the requests themselves fill the cores instead of waiting on a pool.
    torch.set_num_threads(1)
    try:
        launch(demo)
    except PortTaken as err:
        raise SystemExit(f"mnistsum did not start: {err}") from None
