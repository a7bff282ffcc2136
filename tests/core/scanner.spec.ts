/**
 * The streaming JSON field scanner and the watch-stream line sink: only the asked-for fields are kept,
 * any split of the bytes gives the same events, and a huge object costs no memory.
 */
import { JsonScanner, ScanHandler, ValueKind } from "../../assembly/json/scanner";
import { LineHandler, LineSink } from "../../assembly/http/lines";
import { ByteBuffer, utf8 } from "../../assembly/util/bytes";

/** Records every event as one line of text: "f<field> <kind> <key>=<value>", "begin f", "end f", "line ok". */
class Recorder extends LineHandler {
  log: string[] = [];
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    this.log.push("f" + field.toString() + " " + (<i32>kind).toString() + " " + key.toString() + "=" + v.toString());
  }
  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    this.log.push("begin f" + field.toString());
  }
  end(field: i32): void {
    this.log.push("end f" + field.toString());
  }
  line(ok: bool, scanner: JsonScanner): void {
    this.log.push(ok ? "line ok" : "line bad: " + scanner.error);
  }
  text(): string {
    return this.log.join("\n");
  }
}

const NODE = '{"metadata":{"name":"n1","uid":"u-1","labels":{"a":"1","b/c":"two"},"annotations":{"x":"y"}},' +
  '"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"MemoryPressure","status":"False","n":[1,2,{"type":"no"}]}],' +
  '"nodeInfo":{"bootID":"b"},"capacity":{"pods":"1"}},"spec":{"unschedulable":false,"taints":null,"n":-1.5e3}}';

const NODE_FIELDS: string[] = [
  "metadata.uid", "metadata.labels.*", "status.conditions[]", "status.conditions[].type",
  "status.conditions[].status", "spec.unschedulable", "spec.n",
];

function scanAll(text: string, fields: string[]): string {
  const r = new Recorder();
  const s = new JsonScanner(fields, r);
  const b = utf8(text);
  s.feed(b.ptr, b.length);
  r.line(s.finish(), s);
  return r.text();
}

const NODE_EVENTS = [
  "f0 0 uid=u-1", "f1 0 a=1", "f1 0 b/c=two",
  "begin f2", "f3 0 type=Ready", "f4 0 status=True", "end f2",
  "begin f2", "f3 0 type=MemoryPressure", "f4 0 status=False", "end f2",
  "f5 3 unschedulable=false", "f6 1 n=-1.5e3", "line ok",
].join("\n");

describe("JSON field scanner", () => {
  it("reports only the wanted fields, with wildcards and array elements, in document order", () => {
    expect(scanAll(NODE, NODE_FIELDS)).toBe(NODE_EVENTS);
  });
  it("gives the same events whatever the split", () => {
    const b = utf8(NODE);
    for (let at = 0; at <= b.length; at++) {
      const r = new Recorder();
      const s = new JsonScanner(NODE_FIELDS, r);
      s.feed(b.ptr, at);
      s.feed(b.ptr + <usize>at, b.length - at);
      r.line(s.finish(), s);
      expect(r.text()).toBe(NODE_EVENTS);
    }
  });
  it("takes a backticked segment as one literal key, dots and colons included", () => {
    const doc = '{"auths":{"127.0.0.1:5000":{"auth":"A"},"127":{"0":{"0":{"1:5000":{"auth":"wrong"}}}}},"data":{".dockerconfigjson":"D","x":"y"}}';
    expect(scanAll(doc, ["auths.`127.0.0.1:5000`.auth", "data.`.dockerconfigjson`"])).toBe("f0 0 auth=A\nf1 0 .dockerconfigjson=D\nline ok");
  });
  it("unescapes kept strings, surrogate pairs included; a lone surrogate becomes U+FFFD", () => {
    const out = scanAll('{"k":"a\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\\ud800x"}', ["k"]);
    expect(out).toBe("f0 0 k=a\"b\\c\n\u00e9\u{1F600}\uFFFDx\nline ok");
  });
  it("refuses what is not JSON, and says where", () => {
    const bad: string[] = ['{"a":}', '{"a" 1}', '[1,]', '{"a":tru}', '{"a":01x}', '"unterminated', '{"a":1}}', '{"a":"\x01"}', "", "[1 2]", '{"a":-}'];
    for (let i = 0; i < bad.length; i++) {
      const out = scanAll(bad[i], ["a"]);
      expect(out.includes("line bad: ")).toBe(true, bad[i]);
    }
  });
  it("refuses nesting deeper than 32 levels without growing", () => {
    let deep = "";
    for (let i = 0; i < 40; i++) deep += "[";
    expect(scanAll(deep, ["x"])).toBe("line bad: JSON nested too deeply at byte 33");
  });
  it("cuts a kept value at its bound instead of growing", () => {
    let long = '{"k":"';
    for (let i = 0; i < 3000; i++) long += "x";
    long += '"}';
    const r = new Recorder();
    const s = new JsonScanner(["k"], r);
    const b = utf8(long);
    s.feed(b.ptr, b.length);
    expect(s.finish()).toBe(true);
    expect(s.value.length).toBe(1024);
    expect(s.value.overflow).toBe(true);
  });
  it("cuts a kept value and a long key at their bounds the same way whatever the split", () => {
    let doc = '{"k":"';
    for (let i = 0; i < 1500; i++) doc += String.fromCharCode(0x61 + (i % 26));
    doc += '","';
    for (let i = 0; i < 300; i++) doc += "q";
    doc += '":"v","j":"\\u0041-\u00e9"}';
    const b = utf8(doc);
    for (let step = 1; step <= 1600; step += 53) {
      const r = new Recorder();
      const s = new JsonScanner(["k", "j"], r);
      for (let at = 0; at < b.length; at += step) s.feed(b.ptr + <usize>at, min(step, b.length - at));
      r.line(s.finish(), s);
      expect(r.log.length).toBe(3);
      expect(r.log[0].length).toBe(7 + 1024);
      expect(r.log[0].substring(0, 10)).toBe("f0 0 k=abc");
      expect(r.log[0].substring(7 + 1000, 7 + 1024)).toBe("mnopqrstuvwxyzabcdefghij");
      expect(r.log[1]).toBe("f1 0 j=A-\u00e9");
      expect(s.offset).toBe(<i64>b.length);
    }
  });
});

const STREAM =
  '{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p1","resourceVersion":"10"},"spec":{"nodeName":"n"}}}\n' +
  '{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"p1","resourceVersion":"11","annotations":{"big":"v"}}}}\n' +
  "\n" +
  'not json at all\n' +
  '{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}}\n';

const STREAM_FIELDS: string[] = ["type", "object.metadata.name", "object.metadata.resourceVersion", "object.metadata.annotations.*"];

const STREAM_EVENTS = [
  "f0 0 type=ADDED", "f1 0 name=p1", "f2 0 resourceVersion=10", "line ok",
  "f0 0 type=MODIFIED", "f1 0 name=p1", "f2 0 resourceVersion=11", "f3 0 big=v", "line ok",
  "line bad: invalid literal at byte 4",
  "f0 0 type=BOOKMARK", "f2 0 resourceVersion=12", "f3 0 k8s.io/initial-events-end=true", "line ok",
].join("\n");

describe("watch stream line sink", () => {
  it("splits a stream into events at every split point, skipping blank lines and reporting garbage", () => {
    const b = utf8(STREAM);
    for (let at = 0; at <= b.length; at++) {
      const r = new Recorder();
      const sink = new LineSink(STREAM_FIELDS, r);
      sink.begin();
      sink.write(b.ptr, at);
      sink.write(b.ptr + <usize>at, b.length - at);
      expect(r.text()).toBe(STREAM_EVENTS);
      expect(sink.lines).toBe(4);
    }
  });
  it("reads it byte by byte too", () => {
    const b = utf8(STREAM);
    const r = new Recorder();
    const sink = new LineSink(STREAM_FIELDS, r);
    sink.begin();
    for (let i = 0; i < b.length; i++) sink.write(b.ptr + <usize>i, 1);
    expect(r.text()).toBe(STREAM_EVENTS);
  });
  it("a 1 MiB object in the stream costs no memory beyond the fields kept", () => {
    const r = new Recorder();
    const sink = new LineSink(STREAM_FIELDS, r);
    sink.begin();
    const head = utf8('{"type":"ADDED","object":{"metadata":{"name":"huge","labels":{"l":"');
    const filler = new ByteBuffer(4096, 4096);
    for (let i = 0; i < 4096; i++) filler.byte(0x61 + (i % 26));
    const tail = utf8('"},"resourceVersion":"7"}}}\n{"type":"DELETED","object":{"metadata":{"name":"next"}}}\n');
    sink.write(head.ptr, head.length);
    const before = memory.size();
    for (let i = 0; i < 256; i++) sink.write(filler.ptr, filler.length); // 1 MiB of label value, not wanted
    sink.write(tail.ptr, tail.length);
    expect(memory.size()).toBe(before);
    expect(r.text()).toBe("f0 0 type=ADDED\nf1 0 name=huge\nf2 0 resourceVersion=7\nline ok\nf0 0 type=DELETED\nf1 0 name=next\nline ok");
  });
});

let fuzzSeed: u32 = 0x9e3779b9;
/** xorshift32: a fixed seed, so a failure reproduces. */
function rnd(n: i32): i32 {
  fuzzSeed ^= fuzzSeed << 13;
  fuzzSeed ^= fuzzSeed >> 17;
  fuzzSeed ^= fuzzSeed << 5;
  return <i32>(fuzzSeed % <u32>n);
}

/** Counts events without allocating, so memory measures the scanner alone. */
class Counter extends LineHandler {
  events: i64 = 0;
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    this.events += 1 + <i64>v.length + <i64>key.length;
  }
  line(ok: bool, scanner: JsonScanner): void {
    this.events++;
  }
}

describe("scanner fuzz", () => {
  it("never traps or grows on 20,000 mutated and truncated documents split at random points", () => {
    const src = utf8(NODE + "\n" + STREAM);
    const buf = new ByteBuffer(src.length + 16, src.length + 16);
    const r = new Counter();
    const sink = new LineSink(NODE_FIELDS.concat(STREAM_FIELDS), r);
    let before: i32 = 0;
    for (let round = 0; round < 20000; round++) {
      if (round == 100) before = memory.size();
      buf.clear();
      buf.append(src);
      const flips = 1 + rnd(8);
      for (let k = 0; k < flips; k++) store<u8>(buf.ptr + <usize>rnd(buf.length), <u8>rnd(256));
      const len = rnd(buf.length + 1);
      const at = rnd(len + 1);
      sink.begin();
      sink.write(buf.ptr, at);
      sink.write(buf.ptr + <usize>at, len - at);
    }
    expect(memory.size()).toBe(before);
    expect(r.events > 20000).toBe(true);
  });
});
