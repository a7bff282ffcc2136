/**
 * The JSON writer and reader. json-as (an independent JSON implementation, pinned in package.json) is
 * used here as an oracle: what our writer produces must parse back through it to the same values.
 */
import { JSON } from "json-as";
import { JsonWriter, writeString } from "../../assembly/json/writer";
import { JsonKind, JsonReader } from "../../assembly/json/reader";
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

describe("JSON reader", () => {
  it("reads objects, arrays, numbers, literals and escapes", () => {
    const b = utf8('{"a":{"b":[1,-2.5e3,true,false,null,"x\\u00e9\\ud83d\\ude00\\/"]},"n":12}');
    const r = new JsonReader();
    const v = r.parseBuffer(b)!;
    expect(r.error).toBe("");
    expect(v.path("a.b")!.items.length).toBe(6);
    expect(v.path("a.b")!.items[1].text).toBe("-2.5e3");
    expect(v.path("a.b")!.items[1].isInteger()).toBe(false);
    expect(v.path("a.b")!.items[2].flag).toBe(true);
    expect(v.path("a.b")!.items[4].kind).toBe(JsonKind.Null);
    expect(v.path("a.b")!.items[5].text).toBe("xé😀/");
    expect(v.get("n")!.asInt()).toBe(12);
  });
  it("skips named members without storing them", () => {
    const b = utf8('{"metadata":{"uid":"u1","managedFields":[{"big":{"deep":[1,2,3]}}],"name":"n"}}');
    const r = new JsonReader();
    r.skip = ["managedFields"];
    const v = r.parseBuffer(b)!;
    expect(v.stringAt("metadata.uid")).toBe("u1");
    expect(v.stringAt("metadata.name")).toBe("n");
    expect(v.path("metadata.managedFields")).toBeNull();
  });
  it("refuses malformed input with a message and never traps", () => {
    const bad: string[] = [
      "", "{", "}", "[1,]", '{"a" 1}', '{"a":1,}', '"unterminated', '"bad \\x escape"', "tru", "nul", "01",
      "-", "1.", "1e", '{"a":1} trailing', '"ctl \x01"', '"\\u12"', "[".repeat(100) + "]".repeat(100),
    ];
    for (let i = 0; i < bad.length; i++) {
      const r = new JsonReader();
      expect(r.parseBuffer(utf8(bad[i]))).toBeNull("case " + i.toString());
      expect(r.error.length).toBeGreaterThan(0);
    }
  });
  it("survives pseudo-random bytes", () => {
    let seed: u32 = 7;
    for (let round = 0; round < 300; round++) {
      const b = new ByteBuffer(256, 256);
      for (let i = 0; i < 200; i++) {
        seed = seed * 1664525 + 1013904223;
        const pick = (seed >> 24) % 12;
        b.byte(pick < 8 ? <i32>'{}[]":,1'.charCodeAt(pick) : <i32>((seed >> 8) & 0xff));
      }
      const r = new JsonReader();
      r.parseBuffer(b);
    }
    expect(true).toBe(true);
  });
});
