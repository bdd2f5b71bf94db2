"""WeChat web authorisation (网页授权, `snsapi_base`): the payer's openid for JSAPI payments.

A page opened inside WeChat sends the payer to `connect/oauth2/authorize`; WeChat comes back to
our page with a one-time `code`, which the server exchanges at `sns/oauth2/access_token` (with
the official account's AppSecret) for the payer's openid. `snsapi_base` asks the payer nothing.
WeChat's field names stay in this folder."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from juhe.channels.base import ChannelError


class TokenAnswer(BaseModel):
    """`sns/oauth2/access_token`'s answer: the openid, or `errcode`/`errmsg` (HTTP 200 either way)."""

    model_config = ConfigDict(extra="ignore")
    openid: str | None = None
    errcode: int | None = None
    errmsg: str | None = None


def authorize_url(authorize_base: str, appid: str, redirect_uri: str, state: str) -> str:
    query = urlencode({"appid": appid, "redirect_uri": redirect_uri, "response_type": "code", "scope": "snsapi_base",
                       "state": state})
    return f"{authorize_base}?{query}#wechat_redirect"


async def openid_for_code(http: httpx.AsyncClient, api_base: str, appid: str, secret: str, code: str, timeout_s: float) -> str:
    params = {"appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"}
    try:
        response = await http.get(f"{api_base}/sns/oauth2/access_token", params=params, timeout=timeout_s)
    except httpx.TransportError as exc:
        raise ChannelError(f"WeChat authorisation unreachable: {exc!r}", outcome_known=True, code="connect_error") from exc
    try:
        answer = TokenAnswer.model_validate_json(response.content)
    except ValidationError as exc:
        raise ChannelError(f"WeChat authorisation answer malformed: {exc}", outcome_known=True, code="bad_answer") from exc
    if answer.errcode or not answer.openid:
        raise ChannelError(f"WeChat authorisation: {answer.errcode} {answer.errmsg}", outcome_known=True,
                           code=f"oauth_{answer.errcode or 'no_openid'}")
    return answer.openid
