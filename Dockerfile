# fossilct on a GPU host: TensorFlow's official GPU image plus the locked dependencies, run as the
# unprivileged user `fossil`.
#   docker build -t fossilct .
#   docker run --gpus all -p 8888:8888 -v $PWD/outputs:/home/fossil/fossilct/outputs fossilct
#       -> JupyterLab on http://localhost:8888 (default command; the token is in the log)
#   docker run --gpus all -v /path/to/scans:/data:ro -v $PWD/outputs:/home/fossil/fossilct/outputs \
#       fossilct python run_all.py --profile paper --data /data
#   docker run --gpus all -p 8866:8866 -v $PWD/outputs:/home/fossil/fossilct/outputs fossilct \
#       voila --port=8866 --no-browser --Voila.ip=0.0.0.0 notebooks/09_dashboard.ipynb
#       -> the dashboard on http://localhost:8866
# Volumes: /home/fossil/fossilct/outputs (run folders: keep them) and /home/fossil/.keras (the
# ImageNet weights Keras downloads once; `-v fossilct-keras:/home/fossil/.keras` keeps them).
# A mounted host folder must be writable by uid 1000, or build with --build-arg UID=$(id -u).
#
# The base image is pinned by tag: its TensorFlow is the lock's (tensorflow-cpu==2.21.0). Its
# digest could not be looked up where this file was written; to pin it, run
#   docker buildx imagetools inspect tensorflow/tensorflow:2.21.0-gpu
# and write FROM tensorflow/tensorflow:2.21.0-gpu@sha256:<the digest shown>.
FROM tensorflow/tensorflow:2.21.0-gpu

ARG USER=fossil
ARG UID=1000
ENV PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONSTARTUP=/home/fossil/fossilct/lib/fossilct/_kernel_startup.py
# PYTHONSTARTUP: every notebook kernel (JupyterLab, Voila) drops TensorFlow's C++ start-up lines
# (fossilct.tflog). No MPLBACKEND: notebooks show their figures inline.

RUN useradd --create-home --uid "${UID}" --shell /bin/bash "${USER}"
WORKDIR /home/fossil/fossilct

# The image already has the GPU build of TensorFlow; install everything else at the locked versions.
COPY requirements.lock ./
RUN grep -vE '^tensorflow[-_]cpu==' requirements.lock > /tmp/requirements.gpu.lock \
 && python -m pip install --no-cache-dir -r /tmp/requirements.gpu.lock

COPY --chown=${UID} . .
RUN python -m pip install --no-cache-dir --no-build-isolation --no-deps -e . \
 && mkdir -p outputs /home/fossil/.keras \
 && chown -R "${UID}" outputs /home/fossil/.keras lib

USER ${USER}
VOLUME ["/home/fossil/fossilct/outputs", "/home/fossil/.keras"]

# 8888: JupyterLab, 8866: Voila dashboard
EXPOSE 8888 8866
# Healthy while the container's server answers (JupyterLab's /api, or Voila's page). A batch
# container (python run_all.py ...) serves nothing: run it with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8888/api', timeout=4)" \
     || python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8866/', timeout=4)"
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser"]
