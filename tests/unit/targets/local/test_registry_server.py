"""render_config: the local registry's config file, as Debian's docker-registry 2.8 reads it."""

from __future__ import annotations

import pytest
import yaml

from components.errors import ModelstackError
from components.targets.local.registry_server import render_config


def test_config_listens_on_loopback_port_and_stores_under_root():
    config = yaml.safe_load(render_config(5123, "/srv/registry"))

    assert config["http"]["addr"] == "127.0.0.1:5123"
    assert config["storage"]["filesystem"]["rootdirectory"] == "/srv/registry"


def test_version_is_the_string_0_1():
    text = render_config(5123, "/srv/registry")

    # the registry rejects a float 0.1; YAML must carry it quoted
    assert yaml.safe_load(text)["version"] == "0.1"


def test_no_auth_no_tls_and_deletes_allowed():
    config = yaml.safe_load(render_config(5123, "/srv/registry"))

    assert "auth" not in config
    assert "tls" not in config["http"]
    assert config["storage"]["delete"] == {"enabled": True}


def test_paths_with_spaces_and_colons_survive_yaml():
    root = "/home/a user/work: models/registry"

    assert yaml.safe_load(render_config(5123, root))["storage"]["filesystem"]["rootdirectory"] == root


def test_pure_same_input_same_text():
    assert render_config(6000, "/r") == render_config(6000, "/r")
    assert render_config(6000, "/r") != render_config(6001, "/r")


@pytest.mark.parametrize("port", [0, 65536, -1, "5000", 5000.0, True, None])
def test_bad_port_names_the_key(port):
    with pytest.raises(ModelstackError) as err:
        render_config(port, "/r")

    assert err.value.key == "modelstack:registry.port"
    assert "1 to 65535" in str(err.value)


def test_empty_root_is_rejected():
    with pytest.raises(ValueError):
        render_config(5000, "")
