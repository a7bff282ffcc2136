import { ByteBuffer } from "../../assembly/util/bytes";

/** The bytes of `b` as "41 c3 a9" (hex, space-separated). */
function hexOf(b: ByteBuffer): string {
  let out = "";
  for (let i = 0; i < b.length; i++) {
    if (i > 0) out += " ";
    const v = b.at(i);
    out += (v < 16 ? "0" : "") + v.toString(16);
  }
  return out;
}

describe("byte buffer: strings as UTF-8", () => {
  it("writes ASCII, two-, three- and four-byte characters and lone surrogates, in any order", () => {
    const b = new ByteBuffer(4, 256);
    b.str("A");
    b.str("é");
    b.str("x€y");
    b.str("😀!");
    b.str("\uD800z");
    b.str("ab\uDC00");
    expect(hexOf(b)).toBe("41 c3 a9 78 e2 82 ac 79 f0 9f 98 80 21 ef bf bd 7a 61 62 ef bf bd");
    expect(b.overflow).toBe(false);
  });
  it("grows as needed and keeps what came before", () => {
    const b = new ByteBuffer(1, 4096);
    let want = "";
    for (let i = 0; i < 40; i++) {
      b.str("line " + i.toString() + ";");
      want += "line " + i.toString() + ";";
    }
    expect(b.toString()).toBe(want);
  });
  it("keeps the bytes that fit when a string crosses the limit, and sets overflow", () => {
    const ascii = new ByteBuffer(4, 8);
    ascii.str("abc");
    ascii.str("defghijk");
    expect(ascii.toString()).toBe("abcdefgh");
    expect(ascii.overflow).toBe(true);
    ascii.str("z");
    expect(ascii.length).toBe(8);

    const mixed = new ByteBuffer(4, 8);
    mixed.str("abcdeé€");
    expect(hexOf(mixed)).toBe("61 62 63 64 65 c3 a9 e2");
    expect(mixed.overflow).toBe(true);
  });
});
