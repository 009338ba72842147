"""The dashboard with the Batch page's streamed downloads: `streamlit run app.py` (the same pages as Home.py).

Streamlit keeps download-button data in memory; a batch's ZIP can be gigabytes, so it is served from disk by
this route instead (`ui.batch`): one random token per session, and only that session's ZIP is ever served.
"""

import streamlit as st
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route

import ui.batch


async def batch_download(request):
    path = ui.batch.served_file(request.path_params["token"], request.path_params["name"])
    if path is None:
        return PlainTextResponse("This download has expired: make the ZIP again on the Batch page.", status_code=404)
    return FileResponse(path, filename=path.name, media_type="application/zip")


ui.batch.ROUTE_SERVED = True
app = st.App("Home.py", routes=[Route(ui.batch.ROUTE + "/{token}/{name}", batch_download)])
