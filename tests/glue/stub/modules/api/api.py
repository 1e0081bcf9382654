# Mirrors Api.text2imgapi at v1.10.1: task id, alwayson script args by lower-cased title, queue, lock,
# state.begin, start_task, process_images, finish_task (not in a finally), state.end in a finally.
import base64
import io
import threading

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from modules import processing, progress, shared
from modules.api import models


def api_middleware(app: FastAPI) -> None:
    """As the WebUI's: any exception becomes JSON, with the exception's own `status_code` when it has one."""

    @app.middleware("http")
    async def exception_handling(request: Request, call_next):
        try:
            return await call_next(request)
        except Exception as e:
            err = {"error": type(e).__name__, "detail": vars(e).get("detail", ""), "errors": str(e)}
            return JSONResponse(status_code=vars(e).get("status_code", 500), content=err)


class Api:
    def __init__(self, app: FastAPI, runner):
        api_middleware(app)
        self.runner = runner
        self.queue_lock = threading.Lock()
        app.add_api_route(
            "/sdapi/v1/txt2img", self.text2imgapi, methods=["POST"], response_model=models.TextToImageResponse
        )

    def text2imgapi(self, txt2imgreq: models.StableDiffusionTxt2ImgProcessingAPI):
        task_id = txt2imgreq.force_task_id or "task(stub)"
        script_args = [None] * len(self.runner.inputs)
        for name, value in (txt2imgreq.alwayson_scripts or {}).items():
            script = next((s for s in self.runner.alwayson_scripts if s.title().lower() == name.lower()), None)
            if script is None:
                raise HTTPException(status_code=422, detail=f"always on script {name} not found")
            for i, arg in enumerate(value.get("args", [])[: script.args_to - script.args_from]):
                script_args[script.args_from + i] = arg
        fields = txt2imgreq.dict()
        for key in ("alwayson_scripts", "script_args", "force_task_id", "send_images", "save_images"):
            fields.pop(key)
        for key in ("script_name", "infotext", "sampler_index"):  # the real one pops these as well
            fields.pop(key)
        fail_inside = bool(fields.pop("refiner_checkpoint"))  # as an unknown refiner fails inside processing
        progress.add_task_to_queue(task_id)
        with self.queue_lock:
            p = processing.StableDiffusionProcessingTxt2Img(**fields)
            p.scripts = self.runner
            p.script_args = tuple(script_args)
            try:
                shared.state.begin(job="scripts_txt2img")
                progress.start_task(task_id)
                if fail_inside:
                    raise Exception("Could not find checkpoint")
                processed = processing.process_images(p)
                progress.finish_task(task_id)
            finally:
                shared.state.end()
        images = []
        for image in processed.images:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            images.append(base64.b64encode(buffer.getvalue()).decode())
        return models.TextToImageResponse(images=images, parameters=txt2imgreq.dict(), info=processed.js())
