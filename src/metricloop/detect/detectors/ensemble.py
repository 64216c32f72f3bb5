"""A per-series ensemble of level, trend, seasonal, spike and shift models (``ensemble``).

Built for business KPIs (hourly and daily, weekly seasons, spikes, dips, level shifts, trends)
and judged on corpora it was not designed on (``metricloop bench detect --suite``).

One streaming pass per series, compiled with numba (a state machine per series, no numpy call
per time step). At each point, with state learned from earlier points only:

* **scale of the data**: non-negative series (counts, amounts) are judged on a log scale, where
  a daily shape, a weekend factor and a level shift are additive and the noise is even
  (:func:`log_scale`); others (around zero, negative) stay linear;
* **expectation** = the level of one of two models plus the seasonal offset of the point's slot
  (hour of week for sub-daily data, falling back to the hour of day until a weekly slot was
  seen; day of week for daily data). The *level model* (slow level and slope) learns from a
  point only after ``delay`` points, and only if no alarm came in between, so a slow incident
  found late never became normal. The *trend model* (Holt, faster) learns at once and follows
  changing slopes and smooth cycles. Each series uses the model, and the seasonal offsets, only
  while they explain it better (out-of-sample mean absolute errors, 10-30 % margin): a
  per-series choice of model, re-made at every point;
* **evidence**, each a signed z against the series' own residual scale (per slot of the day,
  never below half the series-wide one): the point itself (spike/dip) and the means of the last
  3, 7 and ``long_window`` residuals (a shift of 2-3 sigmas is found within a few points where
  single points look plausible). Residuals enter the windows capped at the warning level;
* **calibration on the series' own residuals**: each window mean is divided by its own observed
  spread (sqrt(w) for independent residuals, more when a cycle no model explains makes them
  correlated), and the evidence by how far the series' running 99th percentile of normal
  evidence exceeds a normal one's (2.58): heavy-tailed series (small counts, bursty traffic) get
  a wider band, so one threshold (``warning``, in those calibrated sigmas) holds across series.
  A slot's offset that rests on few visits widens the band by sqrt(1 + 1/visits) (its own
  estimation error), and a time of week is judged only after ``min_visits`` visits. Integer
  series (orders, tickets) are never judged more unusual than Poisson noise around the
  expectation says (Anscombe's transform): 8 orders against 3.5 is ordinary, 30 is not;
* **decomposed season**: next to one offset per time of week, a daily shape plus a day-of-week
  offset (7x the visits per offset, learned within days); each series uses it while it explains
  the series better (out-of-sample errors).

One alarm per incident (``alarm: onset``, NAB's cost model and an owner's inbox alike): only the
first point at or above ``warning`` is flagged, the incident's other points are scored just
below it; an alarm that returns within ``refractory`` points of the incident's last point at or
above ``rearm`` x warning is the same incident (re-armed once the series is back in its band).

Incidents: points at or above ``warning`` teach the level, scale and windows nothing. A
displacement that lasts ``adopt_after`` points is a new normal (the level moves to the run's
mean; a run a straight line explains with another slope is a new trend after ``trend_after``
points); a later return to the level before it, ``return_after`` points in a row, ends the
incident without a new alarm (for ``remember`` points; one look-alike point does not). The
seasonal offsets learn from every point, clipped at 3 sigmas, so a
quiet weekend first taken for an incident is learned within weeks; a slot's first visit after the
warm-up replaces what it learned while the level was still settling (otherwise that error stays in
its running mean for weeks: 16 % on Mondays of a clean series). Known anomalies
(``SeriesBatch.known_anomalies``: confirmed incidents, holidays) are scored but teach nothing.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from numba import njit  # compiles the per-series state machine (one pass, no numpy call per step)
from pydantic import Field

from metricloop.detect.base import KIND_ABOVE, KIND_BELOW, Detector, DetectorParams, severity_from_score
from metricloop.detect.detectors.default import seasonal_phase
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, Direction, FloatArray, SeriesBatch
from metricloop.i18n import Text


class EnsembleParams(DetectorParams):
    warning: float = Field(5.0, gt=0, description="Calibrated z (series' own residual sigmas) that warns.")
    critical: float | None = Field(8.0, gt=0, description="Calibrated z that is critical.")
    warmup: int = Field(
        72, ge=5, description="Points learned before any score is given (the level, slope and scale start here)."
    )
    level_rate: float = Field(0.05, gt=0, le=1, description="How fast the level follows normal points.")
    season_level_rate: float = Field(
        0.01, gt=0, le=1, description="How fast the level follows normal points while a season explains the "
        "series: slower than level_rate, so the level does not follow part of the daily cycle (the offsets "
        "carry it in full).",
    )
    slope_rate: float = Field(0.1, ge=0, le=1, description="How fast the slope (trend) follows; 0 = no trend.")
    season_rate: float = Field(0.15, gt=0, le=1, description="How fast a seasonal slot learns, per visit.")
    scale_rate: float = Field(0.02, gt=0, le=1, description="How fast the residual scale follows.")
    adopt_after: int = Field(
        24, ge=1, description="Points a displacement must last to become the new normal (a day of hourly data)."
    )
    trend_after: int = Field(
        8, ge=3, description="Points after which a run that a straight line explains, with another slope, is a "
        "new trend (accepted) rather than an incident.",
    )
    remember: int = Field(
        500, ge=0, description="Points during which a return to the level before an adopted shift is normal."
    )
    delay: int = Field(
        16, ge=0, description="Points a value waits before it teaches the baselines (a slow incident found "
        "late has not become normal by then).",
    )
    long_window: int = Field(15, ge=0, description="Longest window of the shift evidence (0/7 = windows 3 and 7 only).")
    scale_floor: float = Field(
        0.001, ge=0, description="Minimum scale as a fraction of the level (10x that of the warm-up's mean "
        "size): flat series alert on real moves only."
    )
    min_visits: int = Field(
        2, ge=1, description="Visits of a time of week before a seasonal series is judged at that time."
    )
    slot_inflation: bool = Field(
        True, description="Widen the band by sqrt(1 + 1/visits) while a time of week's offset rests on few visits."
    )
    count_noise: bool = Field(
        True, description="Integer series: never a band narrower than Poisson noise of the expected count."
    )
    decomposed: bool = Field(
        True, description="Also model the season as hour of day plus day of week (a daily shape times a weekday "
        "factor, 7x the visits per offset), used per series while it explains the series better.",
    )
    return_after: int = Field(
        3, ge=1, description="Points in a row near the level before an adopted shift that end the incident (the "
        "points before the last are held: neither alarm nor lesson).",
    )
    alarm: Literal["every", "onset"] = Field(
        "onset", description="every: each point at or above warning is flagged; onset: only the first point of "
        "an incident (one early alarm per incident, the others scored just below warning).",
    )
    rearm: float = Field(
        0.5, gt=0, description="With alarm=onset: an incident goes on while its evidence stays at or above this "
        "fraction of warning; the next alarm needs `refractory` points back inside that inner band (a shift "
        "whose evidence dips just below warning at night is one incident, not two).",
    )
    refractory: int = Field(
        10, ge=0, description="With alarm=onset: an incident that returns within this many points is the same one."
    )


TEMPLATES = (
    Text(en="{value} is above the expected {expected} ({pct}); normal range {lower} to {upper}",
         zh="{value} 高于预期值 {expected}（{pct}），正常范围 {lower} 至 {upper}"),
    Text(en="{value} is below the expected {expected} ({pct}); normal range {lower} to {upper}",
         zh="{value} 低于预期值 {expected}（{pct}），正常范围 {lower} 至 {upper}"),
)

_WINDOWS = (3, 7)
TREND_GAIN = 0.7


@njit(cache=True, nogil=True)
def _emit(exp_out: np.ndarray, lo_out: np.ndarray, hi_out: np.ndarray, i: int, j: int, e: float, half: float,
          log: bool, c: float) -> None:
    """Expected value and band of one point, back on the data's own scale."""
    if log:
        ee = np.exp(e)
        eh = np.exp(half)
        exp_out[i, j] = ee - c
        lo_out[i, j] = ee / eh - c
        hi_out[i, j] = ee * eh - c
    else:
        exp_out[i, j] = e
        lo_out[i, j] = e - half
        hi_out[i, j] = e + half


@njit(cache=True, nogil=True)
def _kernel(
    x: np.ndarray, learn: np.ndarray, week: np.ndarray, n_week: int, per_day: int,
    warmup: int, warning: float, a_level: float, a_level_s: float, a_slope: float, a_season: float, a_scale: float,
    adopt_after: int, trend_after: int, remember: int, floor_rel: np.ndarray, floor_abs: np.ndarray,
    delay: int, long_window: int,
    use_log: np.ndarray, c_log: np.ndarray, is_count: np.ndarray, min_visits: int, slot_inflation: bool,
    decomposed: bool, return_after: int,
    z_out: np.ndarray, exp_out: np.ndarray, lo_out: np.ndarray, hi_out: np.ndarray, m_out: np.ndarray,
) -> None:
    n, t = x.shape
    clip = 3.0
    trend_gain = TREND_GAIN
    a_fast = min(1.0, 4.0 * a_level)  # the trend model follows faster (it must track changing slopes)
    nb = max(long_window, 7)
    # hour of day plus day of week (a daily shape times a weekday factor): 7x the visits per offset
    dec_ok = decomposed and per_day > 1 and n_week == 7 * per_day
    for i in range(n):
        hd_off = np.zeros(per_day)
        hd_n = np.zeros(per_day)
        dd_off = np.zeros(7)
        dd_n = np.zeros(7)
        wk_off = np.zeros(n_week)
        wk_n = np.zeros(n_week)
        dy_off = np.zeros(per_day)
        dy_n = np.zeros(per_day)
        dy_sc = np.zeros(per_day)
        dy_scn = np.zeros(per_day)
        # visits since the warm-up, for the offsets' running means: what a slot learned while the level
        # was still settling is replaced by its first later visit, not averaged in for weeks
        wk_c = np.zeros(n_week)
        dy_c = np.zeros(per_day)
        hd_c = np.zeros(per_day)
        dd_c = np.zeros(7)
        lev0 = np.nan  # level model: slow level and slope, taught after the delay; state as of point st0
        slp0 = 0.0
        st0 = 0
        lev1 = 0.0  # trend model: level and slope (Holt), faster; state as of point st1
        slp1 = 0.0
        st1 = 0
        # out-of-sample mean |residual|: flat, seasonal (the chosen one), level model, trend model,
        # time-of-week season, decomposed season
        mad = np.zeros(6)
        wm = np.zeros(3)  # mean |window mean| of normal points, windows 3, 7, long (z units)
        tq = 2.576  # running 99th percentile of |evidence| on normal points (2.576 for normal residuals)
        seen = 0
        taught = 0
        buf = np.zeros(nb)
        pos = 0
        s3 = 0.0
        s7 = 0.0
        sl = 0.0
        # points wait `delay` steps before they teach: an incident found late never becomes normal
        q_j = np.zeros(delay + 1, dtype=np.int64)
        q_v = np.zeros(delay + 1)
        q_off = np.zeros(delay + 1)
        q_offw = np.zeros(delay + 1)
        q_offd = np.zeros(delay + 1)
        q_err = np.zeros((delay + 1, 11))
        q_n = 0
        q_head = 0
        last_flag = -1
        last_taught = 0
        run = 0
        run_sum = 0.0
        run_ty = 0.0
        run_yy = 0.0
        gap = 0
        prev0 = np.nan
        prev1 = 0.0
        t_adopt = 0
        back_n = 0  # points in a row that look like a return to the level before an adopted shift
        cur = -1
        acc = 0.0
        acc_n = 0.0
        for j in range(t):
            v = x[i, j]
            if use_log[i] and not np.isnan(v):
                v = np.log(max(v, 0.0) + c_log[i])
            z_out[i, j] = 0.0
            exp_out[i, j] = np.nan
            lo_out[i, j] = np.nan
            hi_out[i, j] = np.nan
            # ---- teach the models with the point that waited long enough (if it stayed normal)
            if q_n > delay or (q_n > 0 and seen < warmup // 2):
                k = q_j[q_head]
                y_v = q_v[q_head]
                k_off = q_off[q_head]
                k_offw = q_offw[q_head]
                k_offd = q_offd[q_head]
                q_at = q_head
                q_head = (q_head + 1) % (delay + 1)
                q_n -= 1
                if learn[i, k] and seen >= 1:
                    settled = seen >= warmup
                    ws = week[i, k]
                    if ws != cur:
                        # a slot's offset learns from whole past visits only
                        if acc_n > 0:
                            target = acc / acc_n
                            cd = cur % per_day
                            gw = max(a_season, 1.0 / ((wk_c[cur] if settled else wk_n[cur]) + 1.0))
                            gd = max(a_season, 1.0 / ((dy_c[cd] if settled else dy_n[cd]) + 1.0))
                            wk_off[cur] += gw * (target - wk_off[cur])
                            dy_off[cd] += gd * (target - dy_off[cd])
                            wk_n[cur] += 1.0
                            dy_n[cd] += 1.0
                            if settled:
                                wk_c[cur] += 1.0
                                dy_c[cd] += 1.0
                        cur = ws
                        acc = 0.0
                        acc_n = 0.0
                    use_season = seen > warmup // 2 and mad[1] < 0.9 * mad[0]
                    glob = mad[1] if use_season else mad[0]
                    p0 = lev0 + slp0 * (k - st0)
                    sig = max(1.2533 * glob, floor_rel[i] * abs(p0), floor_abs[i])
                    lim = clip * sig if seen > 5 else np.inf
                    # the season learns from every point, clipped: a weekly pattern first taken for an
                    # incident (a quiet weekend) is learned within a few weeks; an incident moves it little
                    acc += k_offw + min(max(y_v - p0 - k_offw, -lim), lim)
                    acc_n += 1.0
                    if dec_ok:
                        hs = ws % per_day
                        dd = ws // per_day
                        eh = min(max(y_v - p0 - k_offd, -lim), lim)
                        hd_off[hs] += max(a_season, 1.0 / ((hd_c[hs] if settled else hd_n[hs]) + 1.0)) * eh
                        hd_n[hs] += 1.0
                        ed = min(max(y_v - p0 - hd_off[hs] - dd_off[dd], -lim), lim)
                        gdd = 1.0 / ((dd_c[dd] if settled else dd_n[dd]) + 1.0)
                        dd_off[dd] += max(a_season / per_day, gdd) * ed
                        dd_n[dd] += 1.0
                        if settled:
                            hd_c[hs] += 1.0
                            dd_c[dd] += 1.0
                if learn[i, k] and seen >= 1 and last_flag < k:
                    taught += 1
                    last_taught = k
                    if not np.isnan(q_err[q_at, 0]):
                        ar = max(a_scale, 1.0 / taught)
                        for m in range(4):
                            mad[m] += ar * (q_err[q_at, m] - mad[m])
                        mad[4] += ar * (q_err[q_at, 9] - mad[4])
                        mad[5] += ar * (q_err[q_at, 10] - mad[5])
                        for m in range(3):
                            wm[m] += ar * (q_err[q_at, 5 + m] - wm[m])
                        # running 99th percentile of the series' own |evidence| on normal points
                        tq += 0.05 * (0.99 if q_err[q_at, 8] > tq else -0.01)
                        ds = ws % per_day
                        gs = max(a_scale * 4.0, 1.0 / (dy_scn[ds] + 1.0))
                        dy_sc[ds] += gs * (q_err[q_at, 4] - dy_sc[ds])
                        dy_scn[ds] += 1.0
                    r0 = y_v - (k_off if use_season else 0.0) - p0
                    rc0 = min(max(r0, -lim), lim)
                    # a seasonal series' level moves slower than its season: a level that follows part of
                    # the daily cycle leaves the offsets short of it (the delayed level is then out of phase)
                    rate0 = max(a_level_s if use_season else a_level, 1.0 / taught)
                    lev0 = p0 + rate0 * rc0
                    st0 = k
                    if taught > 3:
                        slp0 += 0.1 * a_slope * rate0 * rc0
            if np.isnan(v):
                continue
            wslot = week[i, j]
            dslot = wslot % per_day
            if wk_n[wslot] >= 1:
                off = wk_off[wslot]
            elif dy_n[dslot] >= 1:
                off = dy_off[dslot]
            else:
                off = 0.0
            offw = off
            offd = off
            use_dec = False
            if dec_ok and hd_n[dslot] >= 1:
                offd = hd_off[dslot] + dd_off[wslot // per_day]
                # the decomposed season stands in while it explains the series better
                use_dec = seen > warmup // 2 and mad[5] < mad[4]
                if use_dec:
                    off = offd
            # ---- queue this point for teaching later
            slot_q = (q_head + q_n) % (delay + 1)
            q_j[slot_q] = j
            q_v[slot_q] = v
            q_off[slot_q] = off
            q_offw[slot_q] = offw
            q_offd[slot_q] = offd
            q_err[slot_q, 0] = np.nan
            q_n += 1
            if np.isnan(lev0):
                lev0 = v
                st0 = j
                lev1 = v
                st1 = j
                continue
            early = seen <= warmup // 2
            use_season = (not early) and mad[1] < 0.9 * mad[0]
            use_trend = (not early) and mad[3] < trend_gain * mad[2]
            so = off if use_season else 0.0
            base = (lev1 + slp1 * (j - st1)) if use_trend else (lev0 + slp0 * (j - st0))
            e = base + so
            r = v - e
            glob = mad[1] if use_season else mad[0]
            if not early:
                glob = min(glob, mad[3] if use_trend else mad[2])
            sigma = 1.2533 * glob
            if dy_scn[dslot] >= 3:
                sigma = max(1.2533 * dy_sc[dslot], 0.5 * sigma)
            sigma = max(sigma, floor_rel[i] * abs(base), floor_abs[i])
            m_out[i, j] = (1 if use_season else 0) + (2 if use_trend else 0)
            if slot_inflation and use_season:
                # the slot's offset is a mean of few visits: its own error widens the band
                nv = hd_n[dslot] if use_dec else (wk_n[wslot] if wk_n[wslot] >= 1 else dy_n[dslot])
                if nv >= 1:
                    sigma *= np.sqrt(1.0 + 1.0 / nv)
            z = r / sigma
            if is_count[i] and use_log[i]:
                # a count is never more unusual than Poisson noise around its expectation says
                # (Anscombe: 2 (sqrt(x + 3/8) - sqrt(E + 3/8)) is ~ N(0, 1) for Poisson counts)
                ex = max(np.exp(e) - c_log[i], 0.0)
                zp = 2.0 * (np.sqrt(max(np.exp(v) - c_log[i], 0.0) + 0.375) - np.sqrt(ex + 0.375))
                if abs(z) > abs(zp):
                    z = zp
            # a seasonal series is judged at a time of week only once that time was seen
            visits = min(hd_n[dslot], dd_n[wslot // per_day]) if use_dec else wk_n[wslot]
            scored = seen >= warmup and not (use_season and visits < min_visits)
            zc = min(max(z, -warning), warning)  # capped: one spike does not shift its window
            # running window sums (the value leaving each window is read before it is overwritten)
            s3 += zc - (buf[(pos - 3) % nb] if pos >= 3 else 0.0)
            s7 += zc - (buf[(pos - 7) % nb] if pos >= 7 else 0.0)
            if long_window > 7:
                sl += zc - (buf[(pos - long_window) % nb] if pos >= long_window else 0.0)
            buf[pos % nb] = zc
            pos += 1
            # window means in units of their own observed spread: sqrt(w) for independent residuals,
            # more when the residuals are correlated (a cycle no model explains), so they do not alert
            w3 = s3 / np.sqrt(3.0)
            w7 = s7 / np.sqrt(7.0)
            wl = sl / np.sqrt(max(long_window, 1))
            best = z
            if pos >= 3 and abs(w3) / max(1.0, 1.2533 * wm[0]) > abs(best):
                best = w3 / max(1.0, 1.2533 * wm[0])
            if pos >= 7 and abs(w7) / max(1.0, 1.2533 * wm[1]) > abs(best):
                best = w7 / max(1.0, 1.2533 * wm[1])
            if long_window > 7 and pos >= long_window and abs(wl) / max(1.0, 1.2533 * wm[2]) > abs(best):
                best = wl / max(1.0, 1.2533 * wm[2])
            best = best / max(1.0, tq / 2.576)  # heavier tail than a normal one: wider band
            anomalous = scored and abs(best) >= warning
            near_back = False
            if anomalous and not np.isnan(prev0) and j - t_adopt <= remember:
                back = (prev1 + slp1 * (j - t_adopt)) if use_trend else prev0
                near_back = abs(v - back - so) < 0.5 * warning * sigma
                if near_back and back_n + 1 < return_after:
                    # maybe back to the level before an adopted shift: held (neither alarm nor lesson)
                    # until `return_after` points in a row confirm it; one point near it is no return
                    back_n += 1
                    if scored:
                        _emit(exp_out, lo_out, hi_out, i, j, e, warning * sigma, use_log[i], c_log[i])
                    continue
                if near_back:
                    # back to the level before an adopted shift: the incident is over
                    lev0 = prev0 + slp0 * (j - t_adopt)
                    st0 = j
                    lev1 = back
                    st1 = j
                    prev0 = np.nan
                    run = 0
                    run_sum = 0.0
                    run_ty = 0.0
                    run_yy = 0.0
                    for k in range(nb):
                        buf[k] = 0.0
                    s3 = 0.0
                    s7 = 0.0
                    sl = 0.0
                    last_flag = j
                    back_n = 0
                    if scored:
                        _emit(exp_out, lo_out, hi_out, i, j, v, warning * sigma, use_log[i], c_log[i])
                    continue
            back_n = 0
            if scored:
                z_out[i, j] = best
                _emit(exp_out, lo_out, hi_out, i, j, e, warning * sigma, use_log[i], c_log[i])
            if anomalous:
                last_flag = j
                run += 1
                gap = 0
                y = v - so
                run_sum += y
                run_ty += (run - 1) * y
                run_yy += y * y
                nr = float(run)
                tbar = (nr - 1.0) / 2.0
                ybar = run_sum / nr
                stt = nr * (nr * nr - 1.0) / 12.0
                bfit = (run_ty - nr * tbar * ybar) / stt if run > 1 else 0.0
                new_trend = abs(bfit - (slp1 if use_trend else slp0)) * np.sqrt(stt) > 4.0 * sigma
                if run >= trend_after and run < adopt_after and new_trend:
                    # a change of slope, not of level: a straight line explains the run
                    ssr = max(run_yy - nr * ybar * ybar - bfit * bfit * stt, 0.0)
                    new_trend = ssr / (nr - 2.0) < (1.5 * sigma) ** 2
                else:
                    new_trend = new_trend and run >= adopt_after
                stuck = j - last_taught > 3 * adopt_after + delay
                if stuck and run < adopt_after and not new_trend:
                    # alarms on and off for a long time, nothing learned: the baselines restart from the
                    # recent values (a drifting regime is not an incident that lasts for ever)
                    ybar = 0.0
                    for k in range(q_n):
                        ybar += q_v[(q_head + k) % (delay + 1)]
                    ybar /= max(q_n, 1)
                    ybar -= so
                    tbar = 0.0
                    run = adopt_after
                    prev0 = np.nan
                if run >= adopt_after or new_trend:
                    # a new normal: the run's mean level, and its own slope when that differs clearly
                    last_taught = j
                    if new_trend:
                        slp1 = bfit
                    prev0 = lev0 + slp0 * (j - st0)
                    prev1 = lev1 + slp1 * (j - st1)
                    t_adopt = j
                    if new_trend:
                        slp0 = bfit
                    lev0 = ybar + slp0 * tbar
                    st0 = j
                    lev1 = ybar + slp1 * tbar
                    st1 = j
                    run = 0
                    run_sum = 0.0
                    run_ty = 0.0
                    run_yy = 0.0
                    for k in range(nb):
                        buf[k] = 0.0
                    s3 = 0.0
                    s7 = 0.0
                    sl = 0.0
                continue
            if run > 0:
                gap += 1
                if gap > 3:
                    run = 0
                    run_sum = 0.0
                    run_ty = 0.0
                    run_yy = 0.0
                    gap = 0
            if not learn[i, j]:
                continue
            # a normal point: the trend model learns now (it must follow a moving level); its errors,
            # the other models and the scales learn once the point has waited (see the queue above)
            seen += 1
            lim = clip * sigma if seen > 5 else np.inf
            b1 = lev1 + slp1 * (j - st1)
            r1 = v - so - b1
            q_err[slot_q, 0] = min(abs(v - base), lim)
            q_err[slot_q, 1] = min(abs(v - base - off), lim)
            q_err[slot_q, 2] = min(abs(v - so - lev0 - slp0 * (j - st0)), lim)
            q_err[slot_q, 3] = min(abs(r1), lim)
            q_err[slot_q, 4] = min(abs(r), lim)
            q_err[slot_q, 5] = abs(w3)
            q_err[slot_q, 6] = abs(w7)
            q_err[slot_q, 7] = abs(wl)
            q_err[slot_q, 8] = abs(best)
            q_err[slot_q, 9] = min(abs(v - base - offw), lim)
            q_err[slot_q, 10] = min(abs(v - base - offd), lim)
            rate1 = max(a_fast, 1.0 / seen)
            rc1 = min(max(r1, -lim), lim)
            lev1 = b1 + rate1 * rc1
            st1 = j
            if seen > 3:
                slp1 += a_slope * rate1 * rc1


def log_scale(values: FloatArray, warmup: int) -> tuple[np.ndarray, FloatArray]:
    """Which series are judged on a log scale, and the offset ``c`` of ``log(x + c)``.

    Business KPIs are non-negative and multiplicative (a 30 % drop is the same news at night and at
    the peak; the daily shape and the noise scale with the level): on a log scale the season and
    a level shift are additive and the noise is even. A series is judged so when its first
    ``warmup`` known values are non-negative with a positive median (or are counts); ``c`` (5 % of that median, at
    least 1 for counts) keeps zeros finite. Others (around zero, or negative) stay linear.
    """
    head = values[:, : max(warmup, 2)]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(head, axis=1)
        med = np.nanmedian(head, axis=1)
        counts = np.all(np.isnan(head) | (head == np.round(head)), axis=1)
    use = np.isfinite(lo) & (lo >= 0) & np.isfinite(med) & ((med > 0) | counts)
    c = 0.05 * np.where(use & (med > 0), med, 1.0)
    # counts: at least 1, so that 0 against an expected 3 is not an extreme event on a log scale
    return use, np.where(use, np.where(counts, np.maximum(c, 1.0), c), 0.0)


def count_series(values: FloatArray, warmup: int) -> np.ndarray:
    """Series whose first ``warmup`` known values are non-negative integers (orders, tickets, errors)."""
    head = values[:, : max(warmup, 2)]
    known = ~np.isnan(head)
    with np.errstate(all="ignore"):
        ints = np.all(~known | ((head == np.round(head)) & (head >= 0)), axis=1)
    return np.asarray(ints & known.any(axis=1), dtype=np.bool_)


@njit(cache=True, nogil=True)
def _onset(score: np.ndarray, level: float, refractory: int, rearm: float, out: np.ndarray) -> None:
    n, t = score.shape
    for i in range(n):
        last = -refractory - 1
        for j in range(t):
            s = score[i, j]
            if s >= level or s <= -level:  # NaN is neither
                out[i, j] = j - last > refractory
                last = j
            elif (s >= rearm or s <= -rearm) and j - last <= refractory:
                last = j  # still outside the inner band: the same incident


def onset_only(score: FloatArray, level: float, refractory: int, rearm: float = np.inf) -> np.ndarray:
    """Points that open an incident: at or above ``level`` with none such in the ``refractory`` points
    before (an alarm that flickers inside one incident is that incident's one alarm). A point at or
    above ``rearm`` (below ``level``) within an incident extends it: the next alarm needs the series
    back inside that inner band for ``refractory`` points."""
    out = np.zeros(np.shape(score), dtype=np.bool_)
    _onset(np.ascontiguousarray(score, dtype=np.float64), level, max(refractory, 1), rearm, out)
    return out


def ensemble_scores(
    values: FloatArray, timestamps: np.ndarray, p: EnsembleParams, learn: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Signed calibrated z, expected value and band per point (original units); causal.

    ``learn`` False marks points that are scored but teach nothing (confirmed anomalies, holidays).
    """
    raw = np.ascontiguousarray(values, dtype=np.float64)
    n, t = raw.shape
    use_log, c = log_scale(raw, p.warmup)
    phase, period = seasonal_phase(timestamps)
    per_day = period // 7 if period >= 14 and period % 7 == 0 else max(period, 1)
    week = np.ascontiguousarray(np.broadcast_to(np.asarray(phase, dtype=np.int64), (n, t)))
    lrn = np.ones((n, t), dtype=np.bool_) if learn is None else np.ascontiguousarray(learn, dtype=np.bool_)
    z, exp, lower, upper = (np.empty((n, t)) for _ in range(4))
    model = np.zeros((n, t), dtype=np.int8)
    floor_rel = np.where(use_log, 0.0, p.scale_floor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        typical = np.nan_to_num(np.nanmean(np.abs(raw[:, : max(p.warmup, 2)]), axis=1))
    # no scale below a fraction of the series' typical size: a flat stretch does not make every
    # later wiggle infinitely unusual
    floor_abs = np.where(use_log, max(p.scale_floor, 1e-9), np.maximum(10 * p.scale_floor * typical, 1e-12))
    warn = p.warning * p.sensitivity
    counts = count_series(raw, p.warmup) if p.count_noise else np.zeros(n, dtype=np.bool_)
    _kernel(raw, lrn, week, max(period, 1), per_day, p.warmup, warn, p.level_rate, p.season_level_rate, p.slope_rate,
            p.season_rate,
            p.scale_rate, p.adopt_after, p.trend_after, p.remember, floor_rel, floor_abs, p.delay, p.long_window,
            use_log, c, counts, p.min_visits, p.slot_inflation, p.decomposed, p.return_after,
            z, exp, lower, upper, model)
    return {"z": z, "expected": exp, "lower": lower, "upper": upper, "model": model}


@register
class EnsembleDetector(Detector):
    """Per-series ensemble (level, season, spike, shift), frozen during incidents. Score 1 = warning."""

    name = "ensemble"
    Params = EnsembleParams
    title = Text(en="automatic (per-series ensemble)", zh="自动（逐序列集成）")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, EnsembleParams)
        learn = None if batch.known_anomalies is None else ~np.asarray(batch.known_anomalies, dtype=bool)
        out = ensemble_scores(batch.values, batch.timestamps, params, learn)
        z = out["z"]
        if params.direction is Direction.UP:
            z = np.maximum(z, 0.0)
        elif params.direction is Direction.DOWN:
            z = np.minimum(z, 0.0)
        score = np.abs(z) / (params.warning * params.sensitivity)
        if params.alarm == "onset":
            # one early alarm per incident: its other points stay just below warning
            first = onset_only(score, 1.0, params.refractory, params.rearm)
            score = np.where(first, score, np.minimum(score, 0.999))
        return Detection(
            detector=self.name,
            values=batch.values,
            expected=out["expected"],
            lower=out["lower"],
            upper=out["upper"],
            score=score,
            severity=severity_from_score(score, params.warning, params.critical),
            templates=TEMPLATES,
            kind=np.where(z >= 0, KIND_ABOVE, KIND_BELOW).astype(np.int8),
        )
