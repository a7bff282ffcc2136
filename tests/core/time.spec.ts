import { daysFromCivil, civilFromDays, parseHttpDate, parseRfc3339, rfc3339, daysInMonth } from "../../assembly/util/time";
import { utf8 } from "../../assembly/util/bytes";
import { WallClock } from "../../assembly/util/clock";

function parse(s: string): i64 {
  const b = utf8(s);
  return parseHttpDate(b.ptr, b.length);
}

describe("HTTP date parsing (fixed vectors, one taken from a real API server response)", () => {
  it("parses the RFC 1123 sample", () => {
    expect(parse("Sat, 02 May 2026 15:47:17 GMT")).toBe(1777736837);
  });
  it("parses the date from the cast", () => {
    expect(parse("Sat, 02 May 2026 16:13:02 GMT")).toBe(1777738382);
  });
  it("rejects a bogus month", () => {
    expect(parse("Sat, 02 Wat 2026 15:47:17 GMT")).toBe(-1);
  });
  it("rejects out-of-range fields instead of rolling them over", () => {
    expect(parse("Sat, 99 May 2026 15:47:17 GMT")).toBe(-1);
    expect(parse("Sat, 02 May 2026 30:47:17 GMT")).toBe(-1);
    expect(parse("Sat, 02 May 2026 15:60:17 GMT")).toBe(-1);
    expect(parse("Sun, 29 Feb 2026 00:00:00 GMT")).toBe(-1);
  });
  it("accepts the leap day of a leap year", () => {
    expect(parse("Thu, 29 Feb 2024 00:00:00 GMT")).toBe(1709164800);
  });
  it("rejects truncated, empty and garbage input", () => {
    expect(parse("")).toBe(-1);
    expect(parse("Sat, 02 May 2026 15:47")).toBe(-1);
    expect(parse("no comma at all")).toBe(-1);
    expect(parse(",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,")).toBe(-1);
    expect(parse("Sat, 02 May 2026 15:47:17 UTC")).toBe(-1);
    expect(parse("Sat, 0x May 2026 15:47:17 GMT")).toBe(-1);
  });
  it("tolerates extra spaces after the comma", () => {
    expect(parse("Sat,   02 May 2026 15:47:17 GMT")).toBe(1777736837);
  });
});

describe("civil date arithmetic", () => {
  it("converts the 2024 leap day", () => {
    expect(daysFromCivil(2024, 2, 29) * 86400).toBe(1709164800);
  });
  it("round-trips days across four centuries", () => {
    for (let d: i64 = -200000; d < 200000; d += 97) {
      const c = civilFromDays(d);
      expect(daysFromCivil(c.year, c.month, c.day)).toBe(d);
    }
  });
  it("knows month lengths", () => {
    expect(daysInMonth(2000, 2)).toBe(29);
    expect(daysInMonth(1900, 2)).toBe(28);
    expect(daysInMonth(2023, 4)).toBe(30);
    expect(daysInMonth(2023, 12)).toBe(31);
  });
});

describe("RFC 3339 formatting", () => {
  it("formats MicroTime with six fractional digits", () => {
    expect(rfc3339(1777736837000, true)).toBe("2026-05-02T15:47:17.000000Z");
    expect(rfc3339(1777736837123, true)).toBe("2026-05-02T15:47:17.123000Z");
  });
  it("formats metav1.Time with whole seconds", () => {
    expect(rfc3339(1777736837999, false)).toBe("2026-05-02T15:47:17Z");
  });
  it("formats the epoch and times before it", () => {
    expect(rfc3339(0, true)).toBe("1970-01-01T00:00:00.000000Z");
    expect(rfc3339(-1, true)).toBe("1969-12-31T23:59:59.999000Z");
  });
});

describe("wall clock against absurd Date headers", () => {
  it("refuses dates before 2020 or from 2100 on, anchored or not, and keeps the truth", () => {
    const c = new WallClock();
    expect(c.observe(253402300799, 0, 10)).toBe(0); // Fri, 31 Dec 9999 23:59:59 GMT
    expect(c.anchored).toBe(false);
    expect(c.observe(4294967295, 0, 10)).toBe(0); // 2106
    expect(c.anchored).toBe(false);
    const real: i64 = 1_777_737_600; // 2026-05-02
    c.observe(real, 1000, 1010);
    expect(c.anchored).toBe(true);
    const before = c.wallMs(2000);
    expect(c.observe(253402300799, 1500, 1510)).toBe(0);
    expect(c.observe(0, 1500, 1510)).toBe(0);
    expect(c.wallMs(2000)).toBe(before);
    expect(c.refused).toBe(4);
  });
});

function meta(s: string): i64 {
  const b = utf8(s);
  return parseRfc3339(b.ptr, b.length);
}

describe("metav1.Time parsing (lastTransitionTime as the API server writes it)", () => {
  it("reads whole seconds and round-trips what we write", () => {
    expect(meta("2026-05-02T15:47:17Z")).toBe(1777736837000);
    expect(meta(rfc3339(1777736837000, false))).toBe(1777736837000);
    expect(meta("2024-02-29T00:00:00Z")).toBe(daysFromCivil(2024, 2, 29) * 86400000);
  });
  it("ignores a fraction", () => {
    expect(meta("2026-05-02T15:47:17.123456Z")).toBe(1777736837000);
  });
  it("refuses what is not such a time", () => {
    expect(meta("")).toBe(-1);
    expect(meta("2026-05-02T15:47:17")).toBe(-1);
    expect(meta("2026-05-02 15:47:17Z")).toBe(-1);
    expect(meta("2026-05-02T15:47:17+02:00")).toBe(-1);
    expect(meta("2023-02-29T00:00:00Z")).toBe(-1);
    expect(meta("2026-13-02T00:00:00Z")).toBe(-1);
    expect(meta("2026-05-02T24:00:00Z")).toBe(-1);
    expect(meta("2026-05-02T15:47:17xZ")).toBe(-1);
    expect(meta("20x6-05-02T15:47:17Z")).toBe(-1);
  });
});
