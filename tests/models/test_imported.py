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
    ("tests.doctor.user_models:NOT_CALLABLE",
     "`--model` 'tests.doctor.user_models:NOT_CALLABLE' is not callable, got int"),
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
    assert str(error.value) == ("`--model` 'tests.doctor.user_models:not_a_module' "
                                "must return a torch.nn.Module, got str")


def test_a_network_that_does_not_fit_the_data_is_refused_at_build_with_the_shapes() -> None:
    from fitguard.models.imported import check_fits

    with pytest.raises(ValueError) as error:
        check_fits(torch.nn.Linear(5, 2), "nets:net", (3,), 2)
    assert str(error.value) == (
        "`--model` 'nets:net' does not fit the data: a batch of shape (2, 3) fails with RuntimeError: mat1 and mat2 "
        "shapes cannot be multiplied (2x3 and 5x2); it must map (N, 3) to (N, 2)")
    with pytest.raises(ValueError) as error:
        check_fits(torch.nn.Flatten(), "nets:net", (1, 4, 4), 10)
    assert str(error.value) == (
        "`--model` 'nets:net' does not fit the data: a batch of shape (2, 1, 4, 4) gives (2, 16); "
        "it must map (N, 1, 4, 4) to (N, 10)")


class _TupleNet(torch.nn.Module):
    def forward(self, x):
        return x, x


def test_an_output_that_is_not_a_tensor_is_refused() -> None:
    from fitguard.models.imported import check_fits

    with pytest.raises(ValueError) as error:
        check_fits(_TupleNet(), "nets:net", (2,), 2)
    assert str(error.value) == (
        "`--model` 'nets:net' does not fit the data: a batch of shape (2, 2) gives tuple; it must map (N, 2) to (N, 2)")


def test_the_check_leaves_the_network_as_it_was() -> None:
    from fitguard.models.imported import check_fits

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5),
                                torch.nn.Linear(4, 2)).double()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    check_fits(model, "nets:net", (3,), 2)  # a float64 network gets a float64 batch
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats untouched
    assert torch.equal(torch.get_rng_state(), rng)  # no dropout draw: seeded runs stay as they were
