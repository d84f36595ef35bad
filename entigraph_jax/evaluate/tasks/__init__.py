"""The evaluation tasks, one module each; a module defining `TASK` (an `evaluate.task.Task`) is found by
its presence here (`evaluate.task.tasks()`)."""
