import pytest

from juhe.config import get_settings
from juhe.webhooks.endpoints import WebhookError, check_url


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setattr(get_settings(), "webhook_allow_private_urls", False)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8080/hook", "http://10.1.2.3/hook", "http://192.168.0.9/x",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/hook", "http://0.0.0.0/hook",
])
def test_internal_addresses_are_refused_in_production(production, url):
    with pytest.raises(WebhookError) as refused:
        check_url(url)
    assert refused.value.code == "invalid_url"


def test_public_hosts_are_accepted_in_production(production):
    assert check_url("https://shop.example.com/juhe/hooks") == "https://shop.example.com/juhe/hooks"
    assert check_url("https://93.184.216.34/hooks") == "https://93.184.216.34/hooks"
