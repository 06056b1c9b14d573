"""Background jobs for the app: one fair queue of visitors' runs, their progress, the limits, saving.

- `queue`: `JobQueue`, owners, FIFO, workers with bounded torch threads, stop and cancel;
- `progress`: the training job and `TrainProgress`, what the page and `/train_status` show;
- `policy`: `TrainingPolicy`, what this deployment allows (MNISTSUM_* variables): the page's
  limits for every caller, the class code, the per-address bound;
- `address`: the client address a request counts against (X-Forwarded-For only behind trusted proxies);
- `store`: `RunStore`, every run's record in SQLite beside the leaderboard, so runs survive a restart;
- `saving`: a finished run as a named checkpoint.
"""

from .address import client_address
from .lock import StateFolderBusy, hold_state_folder, note_port
from .policy import PAGE_LIMITS, ClassCodeError, PageLimits, PolicyError, TrainingPolicy
from .progress import (
    TRAINING_JOB,
    TrainProgress,
    completed_result,
    epoch_row,
    leaderboard_recorder,
    preload_data,
    start_training,
    status_dict,
    submit_run,
    training_job,
    training_resumer,
)
from .queue import (
    RESTARTED,
    AddressBusyError,
    JobQueue,
    JobRefused,
    JobStatus,
    NotYourJobError,
    OwnerBusyError,
    QueueFullError,
    default_workers,
    threads_per_worker,
)
from .saving import checkpoint_dir, checkpoint_path, prune_oldest, save_trained
from .store import RunRecord, RunStore

__all__ = [
    "StateFolderBusy",
    "hold_state_folder",
    "note_port",
    "PAGE_LIMITS",
    "RESTARTED",
    "TRAINING_JOB",
    "AddressBusyError",
    "ClassCodeError",
    "JobQueue",
    "JobRefused",
    "JobStatus",
    "NotYourJobError",
    "OwnerBusyError",
    "PageLimits",
    "PolicyError",
    "QueueFullError",
    "RunRecord",
    "RunStore",
    "TrainProgress",
    "TrainingPolicy",
    "checkpoint_dir",
    "client_address",
    "checkpoint_path",
    "completed_result",
    "default_workers",
    "epoch_row",
    "leaderboard_recorder",
    "preload_data",
    "save_trained",
    "prune_oldest",
    "start_training",
    "status_dict",
    "submit_run",
    "threads_per_worker",
    "training_job",
    "training_resumer",
]
