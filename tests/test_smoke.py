from postmark_kit import Email, ServerClient
from postmark_kit.convert import unstructure


def test_email_unset_fields_are_not_sent() -> None:
    email = Email(from_email="a@example.com", to=["b@example.com", "c@example.com"], subject="Hi")
    assert unstructure(email) == {
        "From": "a@example.com",
        "To": "b@example.com, c@example.com",
        "Subject": "Hi",
    }


def test_client_repr_hides_token() -> None:
    client = ServerClient("secret-token-xyz")
    assert "secret-token-xyz" not in repr(client)
    assert "secret-token-xyz" not in repr(client.email)
    client.close()
