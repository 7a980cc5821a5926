"""A webservice's image: the build context rendered from templates/ around the entry script and
the models (`build_context`, `model_versions`, `wheelhouse`), built and pushed with docker-py
(`builder`, `docker_client`, `registry_auth`), as a Pulumi resource (`service_image`). The same
image runs on every target."""
