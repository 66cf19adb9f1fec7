import json

import pytest

from tests.conftest import PASSWORD, basic_header


@pytest.mark.gen_test
async def test_echo_with_basic(http_client, base_url, service_account):
    response = await http_client.fetch(
        base_url + "/integrations/execute/echo",
        method="POST",
        body='{"a": 1}',
        headers={"Authorization": basic_header("partner-sa", PASSWORD)},
    )
    assert response.code == 200
    assert json.loads(response.body)["payload"] == {"a": 1}
