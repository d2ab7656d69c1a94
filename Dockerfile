# syntax=docker/dockerfile:1
# The house-price prediction service of lesson 8 (FastAPI + ONNX Runtime) as an image.
# Lesson 3 builds it with `mlops-course image build` (Podman or Docker):
#   - the build context is build/image/context/, prepared on the host: wheels/ holds the
#     serving dependencies as wheels (repacked from the course's venv), tools/ pip itself, and
#     bundle/ the exported model (model.onnx + bundle.json); nothing is downloaded here;
#   - BASE_IMAGE chooses the base: the official python:3.11-slim-bookworm where a registry
#     is reachable, or the course's own Debian bookworm image made with debootstrap;
#   - two stages: the builder installs the wheels into a venv; the runtime stage copies
#     only that venv and the model, and runs as an unprivileged user.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# first in each stage: every layer below carries it (mlops_course.containers prunes by it)
LABEL io.mlops-course.stage="builder"
WORKDIR /build
COPY tools/pip.whl /tools/pip.whl
COPY wheels/ /wheels/
# pip runs from its own wheel; --no-index: only the wheels above, never the network.
# pip compiles the .pyc files here: the runtime's root filesystem may be read-only.
RUN python3 -m venv --without-pip /opt/venv \
    && python3 /tools/pip.whl/pip --python /opt/venv/bin/python install \
       --no-index --no-cache-dir --find-links /wheels -r /wheels/requirements.txt \
    && python3 /tools/pip.whl/pip --python /opt/venv/bin/python check

FROM ${BASE_IMAGE} AS runtime
LABEL io.mlops-course.stage="runtime" \
      org.opencontainers.image.title="house-prices" \
      org.opencontainers.image.description="mlops-course: the house-price prediction service"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
# The model baked in: a container of this image serves exactly this bundle. To serve
# another one without rebuilding, mount it over /models/current (read-only).
COPY bundle/ /models/current/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
ENTRYPOINT ["python", "-m", "mlops_course.service.server", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--bundle", "/models/current"]
