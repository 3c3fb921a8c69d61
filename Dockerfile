# The Millrace operator image.
#
# Offline-friendly: nothing is downloaded during the build. Build the wheels on the host
# first (the project and every dependency), then the image:
#
#   pip wheel -w dist/wheels '.[operator]'
#   docker build -t millrace/operator:0.1.0 .
#   docker build --build-arg BASE_IMAGE=local/python:3.11-bookworm -t millrace/operator:0.1.0 .
#
# BASE_IMAGE must provide python3 (3.11, the wheels' version) with the venv module.
ARG BASE_IMAGE=python:3.11-slim

# Stage 1: the venv, installed from the host-built wheels (kept out of the final image's
# layers; pip itself is removed from the venv once it has done its work).
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY dist/wheels /wheels
RUN python3 -m venv /opt/millrace \
 && /opt/millrace/bin/pip install --no-index --find-links /wheels 'millrace[operator]' \
 && /opt/millrace/bin/pip uninstall -y -q pip setuptools

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/millrace/bin:$PATH

RUN groupadd --system --gid 10001 millrace \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin millrace
COPY --from=build /opt/millrace /opt/millrace

USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python3", "-m", "millrace_operator"]
