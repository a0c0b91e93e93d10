# vitdemo as a Hugging Face Space (Docker SDK) or any container host.
#   docker build -t vitdemo . && docker run -p 8501:8501 vitdemo
# Spaces run the container as uid 1000 and route traffic to app_port (8501, see README front matter).
FROM python:3.11-slim

# CPU wheels of torch by default (a Space on "cpu-basic"/"cpu-upgrade" has no GPU, and the CUDA
# wheels add gigabytes). Build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126
# for GPU hardware.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# Pretrained models fetched into the image at build time so the Space starts offline-ready;
# empty to skip (the bundled demo models always work).
ARG PREFETCH_MODELS="vit resnet"

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/user \
    HF_HOME=/home/user/.cache/huggingface \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

# curl: the health check. libglib: a runtime need of OpenCV, even the headless build.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 user
USER user
WORKDIR /home/user/app
ENV PATH=/home/user/.local/bin:$PATH

COPY --chown=user requirements.txt .
RUN pip install --user --extra-index-url "$TORCH_INDEX" -r requirements.txt

COPY --chown=user . .
RUN if [ -n "$PREFETCH_MODELS" ]; then \
        python -m vitdemo fetch $PREFETCH_MODELS \
        || echo "Prefetch failed: pretrained models will download on first use."; \
    fi

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl --fail --silent http://localhost:8501/_stcore/health || exit 1

# Spaces embed the app in an iframe on another domain: Streamlit's XSRF cookie does not survive
# that and uploads would fail with 403, so XSRF protection is off here (the app has no logins).
CMD ["streamlit", "run", "app.py", \
     "--server.address=0.0.0.0", "--server.port=8501", \
     "--server.enableXsrfProtection=false", "--server.enableCORS=false"]
