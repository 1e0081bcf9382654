# Mirrors modules/call_queue.py at v1.10.1: wrap_gradio_gpu_call takes the task id from the first argument,
# queues, locks, begins the state, starts the task, and finishes both in a finally.
import threading

from modules import progress, shared

queue_lock = threading.Lock()


def wrap_gradio_gpu_call(func, extra_outputs=None):
    def f(*args, **kwargs):
        id_task = args[0] if args and isinstance(args[0], str) and args[0].startswith("task(") else None
        if id_task:
            progress.add_task_to_queue(id_task)
        with queue_lock:
            shared.state.begin(job=id_task)
            progress.start_task(id_task)
            try:
                return func(*args, **kwargs)
            finally:
                progress.finish_task(id_task)
                shared.state.end()

    return f


def wrap_gradio_call(func, extra_outputs=None, add_stats=False):
    """As the WebUI's: no lock; an exception becomes the extra outputs and an error HTML, and the state is reset."""

    def f(*args, **kwargs):
        try:
            res = list(func(*args, **kwargs))
        except Exception as e:
            res = [*(extra_outputs or [None, ""]), f"<div class='error'>{type(e).__name__}: {e}</div>"]
        finally:
            shared.state.interrupted = False
        return tuple(res)

    return f
