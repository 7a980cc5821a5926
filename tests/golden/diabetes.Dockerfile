# Rendered by modelstack for service diabetes; edit templates/Dockerfile.j2, not this file.
FROM modelstack/python-base:bookworm AS environment

COPY requirements.txt /tmp/build/requirements.txt
COPY wheelhouse/ /tmp/build/wheelhouse/
RUN python3 -m venv /opt/env \
 && /opt/env/bin/pip install --no-cache-dir --no-index --find-links /tmp/build/wheelhouse -r /tmp/build/requirements.txt \
 && find /opt/env/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
 && /opt/env/bin/python -m pip uninstall --yes --quiet pip setuptools

FROM modelstack/python-runtime:bookworm
COPY --from=environment /opt/env /opt/env
RUN useradd --uid 1000 --home-dir /var/azureml-app --no-create-home azureml
# modelstack's scoring server (modelstack_server/): azmlinfsrv's contract on uvicorn,
# with key auth, CORS, a body size limit and TLS.
COPY modelstack/modelstack_server/ /opt/modelstack/modelstack_server/
ENV PYTHONPATH=/opt/modelstack

ENV PATH=/opt/env/bin:$PATH \
    AML_APP_ROOT=/var/azureml-app \
    AZUREML_SOURCE_DIRECTORY=src \
    AZUREML_ENTRY_SCRIPT=src/score.py \
    SERVICE_NAME=diabetes \
    HOME=/tmp
WORKDIR /var/azureml-app
COPY src/ /var/azureml-app/src/
# The model folder's name carries its version: set with the models, so a new model
# version leaves every layer above untouched.
ENV AZUREML_MODEL_DIR=/var/azureml-app/azureml-models/diabetes-ridge/<model version>
COPY models/ /var/azureml-app/azureml-models/
USER azureml
EXPOSE 5001
# azmlinfsrv's own arguments; keys and origins come from the environment at run time.
CMD ["python", "-m", "modelstack_server", "--entry_script", "/var/azureml-app/src/score.py", "--port", "5001"]

