import pytest
import torch

from fitguard.models.imported import build_imported, import_builder


def test_builds_the_users_network_with_input_shape_and_out_features():
    torch.manual_seed(0)
    model = build_imported("tests.doctor.user_models:tiny_net", (1, 8, 8), 10, width=5)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert model[1].out_features == 5


@pytest.mark.parametrize(("name", "message"), [
    ("no_such_package.nets:net",
     "`--model` 'no_such_package.nets:net': cannot import module 'no_such_package.nets' (No module named "
     "'no_such_package'); install it or add its folder to PYTHONPATH"),
    ("tests.doctor.user_models:missing",
     "`--model` 'tests.doctor.user_models:missing': module 'tests.doctor.user_models' has no attribute 'missing'"),
    ("tests.doctor.user_models:NOT_CALLABLE", "`--model` 'tests.doctor.user_models:NOT_CALLABLE' is not callable, got int"),
    ("nets:", "`--model` 'nets:' must look like package.module:function"),
])
def test_unimportable_names_get_one_clear_line(name, message):
    with pytest.raises(ValueError) as error:
        import_builder(name)
    assert str(error.value) == message


def test_a_builder_with_another_signature_or_result_is_refused():
    with pytest.raises(ValueError) as error:
        build_imported("tests.doctor.user_models:wrong_signature", (4,), 2)
    assert str(error.value) == (
        "`--model` 'tests.doctor.user_models:wrong_signature' could not be called as wrong_signature(input_shape=(4,), "
        "out_features=2): wrong_signature() got an unexpected keyword argument 'input_shape'")
    with pytest.raises(ValueError) as error:
        build_imported("tests.doctor.user_models:not_a_module", (4,), 2)
    assert str(error.value) == "`--model` 'tests.doctor.user_models:not_a_module' must return a torch.nn.Module, got str"
