"""Model versions come from content; the AZUREML_MODEL_DIR layout follows Azure ML."""

from components.image.model_versions import MODELS_ROOT, azureml_model_dir, model_version, place_models


def test_version_depends_on_content_not_on_time(tmp_path):
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    first = model_version(model)
    model.touch()
    assert model_version(model) == first
    model.write_bytes(b"weights2")
    assert model_version(model) != first
    assert len(first) == 12


def test_folder_version_covers_file_names_and_contents(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"1")
    first = model_version(folder)
    (folder / "a.bin").rename(folder / "b.bin")
    assert model_version(folder) != first, "renaming a file is a new model"


def test_single_model_dir_is_the_models_own_folder(tmp_path):
    model = tmp_path / "ridge.joblib"
    model.write_bytes(b"x")
    placed = place_models({"ridge": model})
    assert azureml_model_dir(placed) == f"{MODELS_ROOT}/ridge/{placed[0].version}"


def test_several_models_share_the_root_with_name_and_version_below(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    placed = place_models({"zeta": tmp_path / "b", "alpha": tmp_path / "a"})
    assert [p.name for p in placed] == ["alpha", "zeta"], "stable order"
    assert azureml_model_dir(placed) == MODELS_ROOT
    assert placed[0].folder == f"alpha/{placed[0].version}"
