"""The dashboard with the Batch page's streamed downloads: `python app.py` (the same pages as Home.py).

`python app.py [streamlit options]` runs `streamlit run app.py` with glibc's allocator set up for a server
(`core.memory.ALLOCATOR_ENVIRONMENT`: each photo's run reuses the memory the last one freed, about 0.3 s less
per 2 MP photo here); `streamlit run app.py` serves the same app without that.

Streamlit keeps download-button data in memory; a batch's ZIP can be gigabytes, so it is served from disk by
this route instead (`ui.batch`): one random token per session, and only that session's ZIP is ever served.
"""

import os
import subprocess
import sys

from core.memory import ALLOCATOR_ENVIRONMENT

if __name__ == "__main__":  # first, before the heavy imports below: the server imports this file itself
    command = [sys.executable, "-m", "streamlit", "run", os.path.abspath(__file__), *sys.argv[1:]]
    environment = {**ALLOCATOR_ENVIRONMENT, **os.environ}  # a variable set on purpose wins
    if os.name == "posix":
        os.execve(sys.executable, command, environment)  # the server takes this process's place (and id)
    sys.exit(subprocess.call(command, env=environment))

import streamlit as st  # noqa: E402
from starlette.responses import FileResponse, PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

import ui.batch  # noqa: E402


async def batch_download(request):
    path = ui.batch.served_file(request.path_params["token"], request.path_params["name"])
    if path is None:
        return PlainTextResponse("This download has expired: make the ZIP again on the Batch page.", status_code=404)
    return FileResponse(path, filename=path.name, media_type="application/zip")


ui.batch.ROUTE_SERVED = True
app = st.App("Home.py", routes=[Route(ui.batch.ROUTE + "/{token}/{name}", batch_download)])
