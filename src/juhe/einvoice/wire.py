"""The tax platform's messages (乐企-style direct connection: JSON over HTTPS, each request signed
with the enterprise's app secret). Field names stay in this folder; the service sees `Issued`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class WireLine(BaseModel):
    xmmc: str = Field(max_length=100)  # 项目名称
    sphfwssflhbbm: str = Field(min_length=19, max_length=19)  # 商品和服务税收分类合并编码
    slv: str  # 税率, e.g. "0.13"
    je: str  # 金额 (yuan, 2 decimals; negative on a red-letter invoice)
    se: str  # 税额


class IssueRequest(BaseModel):
    lsh: str = Field(max_length=32)  # 流水号: the same serial again returns the invoice issued for it
    fplx: Literal["blue", "red"]
    xsfmc: str  # 销售方名称
    xsfnsrsbh: str = Field(min_length=18, max_length=18)  # 销售方纳税人识别号
    gmfmc: str  # 购买方名称
    gmfnsrsbh: str | None = None  # 购买方纳税人识别号 (none for an individual)
    hjje: str  # 合计金额
    hjse: str  # 合计税额
    jshj: str  # 价税合计
    yfphm: str | None = None  # 原发票号码 (red-letter only)
    mx: list[WireLine]


class IssueAnswer(BaseModel):
    lsh: str
    fphm: str = Field(min_length=20, max_length=20)  # 发票号码
    kprq: str  # 开票日期, ISO 8601


class Refusal(BaseModel):
    code: str
    message: str
