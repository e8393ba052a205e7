# fossilct on a GPU host: TensorFlow's official GPU image plus the locked dependencies.
#   docker build -t fossilct .
#   docker run --gpus all -p 8888:8888 -p 8866:8866 -v /path/to/scans:/data fossilct
#       -> JupyterLab on http://localhost:8888 (default command)
#   docker run --gpus all -v /path/to/scans:/data -v $PWD/outputs:/workspace/fossilct/outputs \
#       fossilct python run_all.py --profile paper --data /data
#   docker run --gpus all -p 8866:8866 fossilct voila --port=8866 --no-browser \
#       --Voila.ip=0.0.0.0 notebooks/09_dashboard.ipynb
FROM tensorflow/tensorflow:2.21.0-gpu

ENV PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg \
    KERAS_HOME=/workspace/keras

WORKDIR /workspace/fossilct

# The image already has the GPU build of TensorFlow; install everything else at the locked versions.
COPY requirements.lock ./
RUN grep -v '^tensorflow-cpu==' requirements.lock > /tmp/requirements.gpu.lock \
 && python -m pip install --no-cache-dir -r /tmp/requirements.gpu.lock

COPY . .
RUN python -m pip install --no-cache-dir --no-build-isolation --no-deps -e .

# 8888: JupyterLab, 8866: Voila dashboard
EXPOSE 8888 8866
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--allow-root"]
