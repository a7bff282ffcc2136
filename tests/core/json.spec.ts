/**
 * The JSON writer and reader. json-as (an independent JSON implementation, pinned in package.json) is
 * used here as an oracle: what our writer produces must parse back through it to the same values.
 */
import { JSON } from "json-as";
import { JsonWriter, writeString } from "../../assembly/json/writer";
import { JsonScanner, ScanHandler, ValueKind } from "../../assembly/json/scanner";
import { ByteBuffer, utf8 } from "../../assembly/util/bytes";

@json
class Probe {
  name: string = "";
  count: i64 = 0;
  ok: bool = false;
  tags: string[] = [];
}


describe("JSON writer", () => {
  it("writes compact JSON with commas in the right places", () => {
    const b = new ByteBuffer(64, 4096);
    const w = new JsonWriter(b);
    w.beginObject().field("name", "n").fieldInt("count", -42).key("ok").bool(true);
    w.key("tags").beginArray().string("a").string("b").endArray();
    w.key("empty").beginObject().endObject().key("list").beginArray().endArray();
    w.endObject();
    expect(b.toString()).toBe('{"name":"n","count":-42,"ok":true,"tags":["a","b"],"empty":{},"list":[]}');
  });
  it("escapes quotes, backslashes and control characters (RFC 8259 §7)", () => {
    const b = new ByteBuffer(64, 4096);
    writeString(b, "a\"b\\c\nd\te\r\x01é😀");
    expect(b.toString()).toBe('"a\\"b\\\\c\\nd\\te\\r\\u0001é😀"');
  });
  it("round-trips through json-as, an independent parser", () => {
    const b = new ByteBuffer(64, 4096);
    const w = new JsonWriter(b);
    w.beginObject().field("name", "q\"uote\\d\n").fieldInt("count", 9007199254740991).key("ok").bool(true);
    w.key("tags").beginArray().string("x").string("ünï").endArray().endObject();
    const p = JSON.parse<Probe>(b.toString());
    expect(p.name).toBe("q\"uote\\d\n");
    expect(p.count).toBe(9007199254740991);
    expect(p.ok).toBe(true);
    expect(p.tags.length).toBe(2);
    expect(p.tags[1]).toBe("ünï");
  });
});

describe("JSON scanner refuses what the old tree reader refused", () => {
  it("refuses malformed input with a message and never traps", () => {
    const bad: string[] = [
      "", "{", "}", "[1,]", '{"a" 1}', '{"a":1,}', '"unterminated', '"bad \\x escape"', "tru", "nul", "01",
      "-", "1.", "1e", '{"a":1} trailing', '"ctl \x01"', '"\\u12"', "[".repeat(100) + "]".repeat(100),
    ];
    for (let i = 0; i < bad.length; i++) {
      const h = new NoFields();
      const s = new JsonScanner(["a"], h);
      const b = utf8(bad[i]);
      s.feed(b.ptr, b.length);
      expect(s.finish()).toBe(false, "case " + i.toString());
      expect(s.error.length).toBeGreaterThan(0);
    }
  });
  it("accepts what json-as writes", () => {
    const p = new Probe();
    p.name = "q\"uote\\d\n";
    p.count = 9007199254740991;
    p.tags = ["a", "ünï"];
    const b = utf8(JSON.stringify(p));
    const s = new JsonScanner(["name"], new NoFields());
    s.feed(b.ptr, b.length);
    expect(s.finish()).toBe(true);
  });
});

class NoFields extends ScanHandler {
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {}
}
