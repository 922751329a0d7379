# Calendar arithmetic for the CMOS RTC model (rtc.py): the MC146818A's
# register encodings (BCD or binary, 12- or 24-hour; datasheet "Time,
# Calendar and Alarm Data Modes", Table 3), proleptic Gregorian days <->
# dates (H. Hinnant's days_from_civil), and when an alarm next matches.
# Pure Python, integers only.


def to_reg(v, binary):
    """v (0-99) as a register byte: binary, or two BCD digits."""
    return v if binary else (v // 10) << 4 | v % 10


def from_reg(b, binary):
    """A register byte as a number, or -1 when it holds no valid BCD."""
    if binary:
        return b
    hi, lo = b >> 4, b & 15
    return -1 if hi > 9 or lo > 9 else hi * 10 + lo


def hour_to_reg(h, binary, h24):
    """Hour 0-23 in the register's format; 12-hour mode sets bit 7 for PM."""
    if h24:
        return to_reg(h, binary)
    return to_reg(h % 12 or 12, binary) | (0x80 if h >= 12 else 0)


def hour_from_reg(b, binary, h24):
    """The hour register as 0-23, or -1 when it is not a valid hour."""
    if h24:
        h = from_reg(b, binary)
        return h if 0 <= h <= 23 else -1
    h = from_reg(b & 0x7F, binary)
    if not 1 <= h <= 12:
        return -1
    return h % 12 + (12 if b & 0x80 else 0)


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a Gregorian date."""
    y -= 1 if m <= 2 else 0
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """(year, month, day) of a day count since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def days_in_month(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def weekday(days):
    """The RTC's day of week (1 = Sunday ... 7 = Saturday) of a day count."""
    return (days + 4) % 7 + 1          # 1970-01-01 was a Thursday


def seconds_to_alarm(sod, h, m, s):
    """Seconds (1-86400) from second-of-day `sod` to the next second whose
    hour, minute and second match the alarm (None: "don't care", -1: a
    value that never matches); None when the alarm can never match."""
    if -1 in (h, m, s):
        return None
    t = sod + 1
    for day in (0, 86400):
        for hh in (range(24) if h is None else (h,)):
            base_h = day + hh * 3600
            if base_h + 3599 < t:
                continue
            for mm in (range(60) if m is None else (m,)):
                base_m = base_h + mm * 60
                if base_m + 59 < t:
                    continue
                for ss in (range(60) if s is None else (s,)):
                    if base_m + ss >= t:
                        return base_m + ss - sod
    return None
