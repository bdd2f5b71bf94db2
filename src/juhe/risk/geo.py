"""Where a payment happened: its region from the device's location or, failing that, its IP.

A region is a metropolitan area with a centre, a UTC offset (for the payer's local hour) and
the IP blocks that geolocate there. The built-in directory is a small synthetic allocation
(first two octets of IPv4 → region) standing in for a GeoIP database; `RegionDirectory`
takes any list of regions, so a deployment can load a real one without touching the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0
UNKNOWN = "unknown"
CELLS_CACHED = 65_536
DEFAULT_UTC_OFFSET_H = 8  # Beijing time: the offset of an unplaceable payment in a China-first platform


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    latitude: float
    longitude: float
    utc_offset_h: int
    ip_prefixes: tuple[str, ...]  # "a.b": every IPv4 address a.b.*.* geolocates here
    weight: int = 0  # share of a population living here, for the generator (0: visitors only)
    domestic: bool = True


@dataclass(frozen=True, slots=True)
class Place:
    """A payment's resolved whereabouts: what the features and the velocity store need."""

    region: str
    ip_region: str
    latitude: float | None
    longitude: float | None
    utc_offset_h: int
    ip_location_mismatch: bool  # the device says one region, its IP another (VPN, proxy, emulator)


def _region(code: str, name: str, lat: float, lon: float, offset: int, index: int, weight: int = 0,
            domestic: bool = True) -> Region:
    # Broadband (58.x) and mobile (112.x) blocks at home, one block (185.x) for abroad.
    prefixes = (f"58.{16 + index}", f"112.{16 + index}") if domestic else (f"185.{index}",)
    return Region(code, name, lat, lon, offset, prefixes, weight, domestic)


REGIONS: tuple[Region, ...] = (
    _region("BJ", "Beijing", 39.90, 116.40, 8, 0, 8),
    _region("SH", "Shanghai", 31.23, 121.47, 8, 1, 9),
    _region("GZ", "Guangzhou", 23.13, 113.26, 8, 2, 7),
    _region("SZ", "Shenzhen", 22.54, 114.06, 8, 3, 7),
    _region("CD", "Chengdu", 30.57, 104.07, 8, 4, 6),
    _region("HZ", "Hangzhou", 30.27, 120.16, 8, 5, 5),
    _region("WH", "Wuhan", 30.59, 114.31, 8, 6, 5),
    _region("XA", "Xi'an", 34.34, 108.94, 8, 7, 4),
    _region("NJ", "Nanjing", 32.06, 118.80, 8, 8, 4),
    _region("CQ", "Chongqing", 29.56, 106.55, 8, 9, 5),
    _region("TJ", "Tianjin", 39.34, 117.36, 8, 10, 3),
    _region("SY", "Shenyang", 41.81, 123.43, 8, 11, 3),
    _region("KM", "Kunming", 25.04, 102.71, 8, 12, 2),
    _region("HRB", "Harbin", 45.80, 126.53, 8, 13, 2),
    _region("URC", "Urumqi", 43.83, 87.62, 8, 14, 1),
    _region("XM", "Xiamen", 24.48, 118.09, 8, 15, 2),
    _region("HK", "Hong Kong", 22.32, 114.17, 8, 1, domestic=False),
    _region("SG", "Singapore", 1.35, 103.82, 8, 2, domestic=False),
    _region("TYO", "Tokyo", 35.68, 139.69, 9, 3, domestic=False),
    _region("BKK", "Bangkok", 13.76, 100.50, 7, 4, domestic=False),
    _region("MOW", "Moscow", 55.76, 37.62, 3, 5, domestic=False),
    _region("LDN", "London", 51.51, -0.13, 0, 6, domestic=False),
    _region("NYC", "New York", 40.71, -74.01, -5, 7, domestic=False),
)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _lon_gap(a: float, b: float) -> float:
    gap = abs(a - b) % 360
    return min(gap, 360 - gap)


def ip_prefix(ip: str) -> str:
    """The first two octets of an IPv4 address ("" for anything else: IPv6 is not allocated here)."""
    parts = ip.split(".")
    return f"{parts[0]}.{parts[1]}" if len(parts) == 4 else ""


class RegionDirectory:
    """Looks up regions by code, by IP and by nearest centre."""

    def __init__(self, regions: tuple[Region, ...] = REGIONS):
        self.regions = regions
        self.by_code = {r.code: r for r in regions}
        self.by_prefix = {prefix: r for r in regions for prefix in r.ip_prefixes}
        self._cells: dict[tuple[int, int], str] = {}  # shared by threads: dict operations are atomic
        if len(self.by_code) != len(regions) or len(self.by_prefix) != sum(len(r.ip_prefixes) for r in regions):
            raise ValueError("region codes and IP prefixes must be unique")

    def region_of_ip(self, ip: str) -> Region | None:
        return self.by_prefix.get(ip_prefix(ip))

    def nearest(self, latitude: float, longitude: float) -> Region:
        # Cells of 0.01° (about 1 km) cache the answer: payments cluster in cities, so most hit.
        cell = (round(latitude * 100), round(longitude * 100))
        code = self._cells.get(cell)
        if code is None:
            if len(self._cells) >= CELLS_CACHED:
                self._cells.clear()  # a cheap bound; the cities' cells come back within seconds
            code = self._cells[cell] = self._nearest_centre(cell[0] / 100, cell[1] / 100).code
        return self.by_code[code]

    def _nearest_centre(self, latitude: float, longitude: float) -> Region:
        scale = math.cos(math.radians(latitude))  # equirectangular ranking: no trigonometry per region
        return min(self.regions, key=lambda r: (r.latitude - latitude) ** 2
                   + (scale * _lon_gap(r.longitude, longitude)) ** 2)

    def place(self, ip: str, latitude: float | None, longitude: float | None) -> Place:
        """The device's own location wins over its IP's; an unknown IP leaves only the location."""
        by_ip = self.region_of_ip(ip)
        ip_code = by_ip.code if by_ip else UNKNOWN
        if latitude is not None and longitude is not None:
            here = self.nearest(latitude, longitude)
            mismatch = by_ip is not None and by_ip.code != here.code
            return Place(here.code, ip_code, latitude, longitude, here.utc_offset_h, mismatch)
        if by_ip is None:
            return Place(UNKNOWN, UNKNOWN, None, None, DEFAULT_UTC_OFFSET_H, False)
        return Place(by_ip.code, ip_code, by_ip.latitude, by_ip.longitude, by_ip.utc_offset_h, False)
