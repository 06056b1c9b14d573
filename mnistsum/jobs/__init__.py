"""Background jobs for the app: one fair queue of visitors' runs, their progress, the limits, saving.

- `queue`: `JobQueue`, owners, FIFO, workers with bounded torch threads, stop and cancel;
- `progress`: the training job and `TrainProgress`, what the page and `/train_status` show;
- `policy`: `TrainingPolicy`, what this deployment allows (MNISTSUM_* variables);
- `saving`: a finished run as a named checkpoint.
"""

from .policy import PolicyError, TrainingPolicy
from .progress import (
    TRAINING_JOB,
    TrainProgress,
    completed_result,
    epoch_row,
    leaderboard_recorder,
    start_training,
    status_dict,
    training_job,
)
from .queue import (
    JobQueue,
    JobRefused,
    JobStatus,
    NotYourJobError,
    OwnerBusyError,
    QueueFullError,
    default_workers,
    threads_per_worker,
)
from .saving import checkpoint_dir, checkpoint_path, save_trained

__all__ = [
    "TRAINING_JOB",
    "JobQueue",
    "JobRefused",
    "JobStatus",
    "NotYourJobError",
    "OwnerBusyError",
    "PolicyError",
    "QueueFullError",
    "TrainProgress",
    "TrainingPolicy",
    "checkpoint_dir",
    "checkpoint_path",
    "completed_result",
    "default_workers",
    "epoch_row",
    "leaderboard_recorder",
    "save_trained",
    "start_training",
    "status_dict",
    "threads_per_worker",
    "training_job",
]
