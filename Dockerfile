# Portrait Studio's engine (`python -m core`) as a container image; the Streamlit dashboard is not in it.
#
#   docker build -t portrait-studio .                                   # CPU (PyTorch's CPU wheel, no CUDA libraries)
#   docker build -t portrait-studio:cuda --build-arg TORCH_INDEX_URL=https://pypi.org/simple .   # CUDA (PyPI's default torch)
#   docker build -t portrait-studio:ray --build-arg EXTRAS=ray .        # with the Ray engine (requirements-ray.txt)
#   docker run --rm -v "$PWD/photos:/data" portrait-studio cutout /data/in.jpg -o /data/out.png
#
# TORCH_INDEX_URL may also name one of PyTorch's CUDA indexes (https://download.pytorch.org/whl/cuXYZ).
ARG PYTHON_VERSION=3.12
FROM python:${PYTHON_VERSION}-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN useradd --create-home --uid 1000 portrait

WORKDIR /src
COPY requirements.txt requirements-ray.txt ./
# torch first, from TORCH_INDEX_URL, at requirements.txt's exact pin (2.13.0+cpu satisfies torch==2.13.0, so the
# steps below keep it instead of fetching PyPI's CUDA build); then the other pins, in a layer code edits keep.
RUN torch_pin="$(grep -x 'torch==[0-9.]*' requirements.txt)" \
    && pip install --index-url "$TORCH_INDEX_URL" "$torch_pin" \
    && pip install -r requirements.txt
COPY pyproject.toml ./
COPY core ./core
# A regular (not editable) install: the source folder goes, the bundled weights stay inside the package.
RUN pip install "/src${EXTRAS:+[$EXTRAS]}" \
    && cd / && rm -rf /src \
    && python -c "import core.faces as f, core.weights as w; assert f.WEIGHTS_FILE.is_file() and w.find_weights(w.REGISTRY['u2netp'])"

WORKDIR /home/portrait
USER portrait

ENTRYPOINT ["python", "-m", "core"]
CMD ["--help"]
