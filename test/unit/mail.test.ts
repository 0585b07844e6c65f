/**
 * The SpamAssassin mail cleaner (scripts/datasets/mail.ts), piece by piece on hand-written mails: headers,
 * MIME structure, transfer encodings, charsets, HTML. Expected values are worked out by hand from the RFCs
 * (2045 quoted-printable and base64, 2046 multipart, 2047 encoded words).
 */
import { strict as assert } from "node:assert";
import {
  cleanMail,
  decodeBytes,
  decodeEncodedWords,
  decodeQuotedPrintable,
  htmlToText,
  MAX_MAIL_CHARS,
  splitMessage,
  splitMultipart,
  truncateAtWord,
} from "../../scripts/datasets/mail";

/** A mail written as lines, as the corpus stores it (bytes as Latin-1 characters). */
const mail = (...lines: string[]): string => lines.join("\n");

describe("mail cleaning: headers and encodings", () => {
  it("headers are unfolded, names lower-cased, the first of a repeated header kept; CRLF is accepted", () => {
    const { headers, body } = splitMessage("Subject: a long\r\n  subject line\r\nReceived: one\r\nReceived: two\r\n\r\nthe body\r\n");
    assert.equal(headers.get("subject"), "a long subject line");
    assert.equal(headers.get("received"), "one");
    assert.equal(body, "the body\n");
    assert.deepEqual(splitMessage("no blank line").body, "");
  });

  it("quoted-printable: =XX is a byte, '=' at a line end joins the lines", () => {
    assert.equal(decodeQuotedPrintable("caf=E9 =3D 1=\nsoft"), "caf\u00e9 = 1soft");
  });

  it('charsets: the declared one, else UTF-8 when valid, else byte for byte (Node 20\'s "windows-1252" is Latin-1)', () => {
    const utf8 = Buffer.from("déjà", "utf8").toString("latin1");
    assert.equal(decodeBytes(utf8), "déjà");
    assert.equal(decodeBytes("caf\xe9 \x93quoted\x94"), "caf\u00e9 \u0093quoted\u0094", "not UTF-8: each byte is its code point");
    assert.equal(decodeBytes("caf\xe9", "iso-8859-1"), "café");
    assert.equal(decodeBytes(utf8, "no-such-charset"), "déjà", "an unknown label falls back to the guess");
  });

  it("RFC 2047 encoded words, Q and B, with the space between two words dropped", () => {
    assert.equal(decodeEncodedWords("=?iso-8859-1?Q?caf=E9_au_lait?="), "café au lait");
    assert.equal(decodeEncodedWords(`=?utf-8?B?${Buffer.from("naïve").toString("base64")}?= =?utf-8?Q?_idea?=`), "naïve idea");
    assert.equal(decodeEncodedWords("plain subject"), "plain subject");
  });
});

describe("mail cleaning: MIME and HTML", () => {
  it("multipart: preamble and epilogue dropped; boundaries compared without white space", () => {
    const body = mail("preamble", "--= B 1", "part one", "--=B1", "part two", "--= B 1--", "epilogue");
    assert.deepEqual(splitMultipart(body, "=B1"), ["part one", "part two"]);
    assert.deepEqual(splitMultipart(mail("--X", "unterminated"), "X"), ["unterminated"]);
  });

  it("HTML: comments and inline tags vanish inside words, other tags become spaces, entities decode", () => {
    assert.equal(htmlToText("dis<!--x-->co<b>un</b>t"), "discount");
    assert.equal(htmlToText("<p>one</p><p>two</p>").trim().split(/\s+/).join(" "), "one two");
    assert.equal(htmlToText("<script>var x = 1;</script>ok &amp; &eacute; &#233; &#xE9; &unknown;"), " ok & é é é &unknown;");
  });

  it("plain text is preferred to HTML; HTML is used when alone; attachments are ignored", () => {
    const alternative = mail(
      "Subject: both",
      'Content-Type: multipart/mixed; boundary="M"',
      "",
      "--M",
      'Content-Type: multipart/alternative; boundary="A"',
      "",
      "--A",
      "Content-Type: text/plain",
      "",
      "the plain text",
      "--A",
      "Content-Type: text/html",
      "",
      "<p>the html</p>",
      "--A--",
      "--M",
      "Content-Type: image/gif",
      "Content-Transfer-Encoding: base64",
      "",
      "R0lGODlhAQABAAAAACw=",
      "--M--",
    );
    assert.equal(cleanMail(alternative), "Subject: both\nthe plain text");
    const htmlOnly = mail("Subject: html", "Content-Type: text/html", "", "<html><body><p>hello <b>there</b></p></body></html>");
    assert.equal(cleanMail(htmlOnly), "Subject: html\nhello there");
    const untyped = mail("Subject: spam", "", "<html><font color=red>BUY</font> now</html>");
    assert.equal(cleanMail(untyped), "Subject: spam\nBUY now", "a body without Content-Type that looks like HTML is read as HTML");
  });

  it("the whole chain: encoded subject, quoted-printable HTML part in Latin-1", () => {
    const raw = mail(
      "From: a@b.c",
      "Subject: =?iso-8859-1?Q?caf=E9_news?=",
      'Content-Type: multipart/alternative; boundary="XX"',
      "",
      "preamble",
      "--XX",
      "Content-Type: text/html; charset=iso-8859-1",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "<p>Caf=E9 &amp; cr&egrave;me,</p><p>dis<!--x-->count   now=",
      "!</p>",
      "--XX--",
      "",
    );
    assert.equal(cleanMail(raw), "Subject: café news\nCafé & crème, discount now!");
  });

  it("base64 text parts; white space collapsed and runs of punctuation shortened", () => {
    const raw = mail(
      "Subject: b64",
      "Content-Transfer-Encoding: base64",
      "Content-Type: text/plain; charset=utf-8",
      "",
      Buffer.from("Grüße\n\n  from ========== here", "utf8").toString("base64"),
    );
    assert.equal(cleanMail(Buffer.from(raw, "latin1").toString("latin1")), "Subject: b64\nGrüße from === here");
  });
});

describe("mail cleaning: length", () => {
  it("truncateAtWord cuts at the last word boundary, never inside a surrogate pair", () => {
    assert.equal(truncateAtWord("short", 10), "short");
    assert.equal(truncateAtWord("the quick brown fox jumps", 21), "the quick brown fox");
    assert.equal(truncateAtWord("abcdefghij", 4), "abcd", "no boundary near the end: a hard cut");
    assert.equal(truncateAtWord("abc😀def", 4), "abc", "the emoji is two UTF-16 units: not split");
  });

  it(`a long mail is cut to ${MAX_MAIL_CHARS} characters at a word`, () => {
    const text = cleanMail(mail("Subject: long", "", "word ".repeat(200)));
    assert.ok(text.length <= MAX_MAIL_CHARS && text.length > MAX_MAIL_CHARS * 0.75, String(text.length));
    assert.match(text, /word$/);
  });
});
