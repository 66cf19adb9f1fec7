"""Geometry of the dashboard charts, drawn as inline SVG by the template.

The server computes every coordinate, so the page needs no script and the
Content-Security-Policy stays strict; colours come from the stylesheet.
"""

from __future__ import annotations

import dataclasses
import datetime

from models.run_stats import CallCount

BAR_CHART_WIDTH = 720
LABEL_WIDTH = 150
VALUE_WIDTH = 170
ROW_HEIGHT = 26
BAR_HEIGHT = 16

HOUR_CHART_WIDTH = 720
HOUR_CHART_HEIGHT = 180
AXIS_HEIGHT = 20
HOURS = 24


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str
    y: float
    ok_width: float
    error_width: float
    calls: int
    errors: int
    error_rate: float


@dataclasses.dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[Bar]


def build_integration_chart(counts: list[CallCount]) -> BarChart:
    """Lay out one horizontal bar per integration, errors drawn after successes."""
    scale_width = BAR_CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    largest = max((count.calls for count in counts), default=0)
    bars = []
    for index, count in enumerate(counts):
        total_width = scale_width * count.calls / largest if largest else 0.0
        error_width = total_width * count.error_rate
        bars.append(
            Bar(
                label=str(count.key),
                y=index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2,
                ok_width=round(total_width - error_width, 1),
                error_width=round(error_width, 1),
                calls=count.calls,
                errors=count.errors,
                error_rate=count.error_rate,
            )
        )
    return BarChart(
        width=BAR_CHART_WIDTH,
        height=max(1, len(counts)) * ROW_HEIGHT,
        label_width=LABEL_WIDTH,
        bar_height=BAR_HEIGHT,
        bars=bars,
    )


@dataclasses.dataclass(frozen=True)
class Column:
    #: Start of the hour (UTC).
    hour: datetime.datetime
    x: float
    ok_y: float
    ok_height: float
    error_y: float
    error_height: float
    calls: int
    errors: int
    #: Text under the column, every sixth hour, else "".
    label: str


@dataclasses.dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    plot_height: int
    column_width: float
    largest: int
    columns: list[Column]


def build_hourly_chart(counts: list[CallCount], now: datetime.datetime) -> ColumnChart:
    """Lay out one stacked column per hour of the last 24, errors on top."""
    by_hour = {count.key: count for count in counts}
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    hours = [
        current_hour - datetime.timedelta(hours=HOURS - 1 - i) for i in range(HOURS)
    ]
    largest = max((count.calls for count in counts), default=0)
    plot_height = HOUR_CHART_HEIGHT - AXIS_HEIGHT
    slot = HOUR_CHART_WIDTH / HOURS
    columns = []
    for index, hour in enumerate(hours):
        count = by_hour.get(hour)
        calls = count.calls if count else 0
        errors = count.errors if count else 0
        total = plot_height * calls / largest if largest else 0.0
        error_height = total * errors / calls if calls else 0.0
        ok_height = total - error_height
        columns.append(
            Column(
                hour=hour,
                x=round(index * slot + 2, 1),
                ok_y=round(plot_height - ok_height, 1),
                ok_height=round(ok_height, 1),
                error_y=round(plot_height - total, 1),
                error_height=round(error_height, 1),
                calls=calls,
                errors=errors,
                label=hour.strftime("%H:00") if index % 6 == 0 else "",
            )
        )
    return ColumnChart(
        width=HOUR_CHART_WIDTH,
        height=HOUR_CHART_HEIGHT,
        plot_height=plot_height,
        column_width=round(slot - 4, 1),
        largest=largest,
        columns=columns,
    )
