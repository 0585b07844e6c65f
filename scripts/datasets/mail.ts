/**
 * Mail cleaning for the SpamAssassin corpus: a raw mail → "Subject: <subject>\n<readable body>".
 *
 *   headers       unfolded, RFC 2047 encoded words decoded (=?iso-8859-1?Q?caf=E9?=)
 *   MIME          multipart bodies split on their boundary and searched recursively; text/plain preferred,
 *                 text/html used when there is no plain text; attachments ignored
 *   encodings     quoted-printable and base64 undone, then each part's charset decoded
 *   HTML          comments, scripts, styles and tags dropped (inline tags without a trace), entities decoded
 *
 * Mails are handled as "byte strings": every character is one byte (Latin-1
 * view of the raw file), so MIME structure, quoted-printable and base64 can be
 * undone without guessing; the bytes of each text part are decoded into real
 * characters only at the end, with the charset that part declares.
 */

/** Longest mail text kept (characters), cut at a word boundary. */
export const MAX_MAIL_CHARS = 400;

/** A header block, parsed: lower-cased name → first value (unfolded). */
type Headers = Map<string, string>;

/** Split a message (or MIME part) into its parsed headers and its body. */
export function splitMessage(raw: string): { headers: Headers; body: string } {
  const text = raw.replace(/\r\n?/g, "\n");
  const end = text.indexOf("\n\n");
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? "" : text.slice(end + 2);
  const headers: Headers = new Map();
  // Unfold continuation lines (they start with white space), then read "Name: value".
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const m = /^([!-9;-~]+):\s*(.*)$/.exec(line);
    if (m && !headers.has(m[1].toLowerCase())) headers.set(m[1].toLowerCase(), m[2].trim());
  }
  return { headers, body };
}

/** Read one parameter (e.g. `charset`, `boundary`) of a Content-Type value. */
function headerParam(value: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * Decode a byte string into text. A declared charset is used when the platform
 * knows it (Node's TextDecoder covers Latin-1, GB2312, Big5, ISO-2022-JP, ...);
 * otherwise, or for a plain "us-ascii" label, the bytes are read as UTF-8 if
 * they are valid UTF-8 and as "windows-1252" if not — which Node 20's
 * TextDecoder decodes as Latin-1 (bytes 0x80–0x9F stay C1 control characters,
 * not curly quotes). The committed spam dataset was made that way; decoding
 * real Windows-1252 would change a few hundred mails (regenerate the data).
 */
export function decodeBytes(binary: string, charset?: string): string {
  const bytes = Buffer.from(binary, "latin1");
  const label = (charset ?? "").trim().toLowerCase();
  if (label !== "" && label !== "us-ascii" && label !== "ascii") {
    try {
      return new TextDecoder(label).decode(bytes);
    } catch {
      // unknown charset label: fall through to the guess below
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder("windows-1252").decode(bytes);
  }
}

/** Quoted-printable → byte string: drop soft line breaks (`=` at line end), decode `=XX`. */
export function decodeQuotedPrintable(text: string): string {
  return text.replace(/=[ \t]*\n/g, "").replace(/=([0-9A-Fa-f]{2})/g, (_all, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Base64 → byte string. */
function decodeBase64(text: string): string {
  return Buffer.from(text.replace(/\s+/g, ""), "base64").toString("latin1");
}

/** RFC 2047 encoded words in headers, e.g. `=?iso-8859-1?Q?caf=E9?=` (input already decoded text). */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, "?==?") // white space between two encoded words is not shown
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_all, charset: string, enc: string, data: string) =>
      decodeBytes(enc.toUpperCase() === "B" ? decodeBase64(data) : decodeQuotedPrintable(data.replace(/_/g, " ")), charset),
    );
}

/** Undo the Content-Transfer-Encoding of a text part, then decode its charset. */
function decodePart(body: string, headers: Headers): string {
  const encoding = (headers.get("content-transfer-encoding") ?? "").toLowerCase();
  const charset = headerParam(headers.get("content-type") ?? "", "charset");
  if (encoding.includes("base64")) return decodeBytes(decodeBase64(body), charset);
  if (encoding.includes("quoted-printable")) return decodeBytes(decodeQuotedPrintable(body), charset);
  return decodeBytes(body, charset);
}

/** Named HTML entities that occur in the corpus (accented letters are handled by rule). */
const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  copy: "©",
  reg: "®",
  trade: "™",
  mdash: "—",
  ndash: "–",
  hellip: "…",
  lsquo: "‘",
  rsquo: "’",
  ldquo: "“",
  rdquo: "”",
  bull: "•",
  middot: "·",
  euro: "€",
  pound: "£",
  cent: "¢",
  yen: "¥",
  deg: "°",
  times: "×",
  laquo: "«",
  raquo: "»",
  szlig: "ß",
  aelig: "æ",
  oslash: "ø",
  iexcl: "¡",
  iquest: "¿",
  sect: "§",
  para: "¶",
};

/** Combining marks for entities such as `&eacute;` = e + acute accent. */
const ACCENTS: Record<string, string> = {
  acute: "\u0301",
  grave: "\u0300",
  circ: "\u0302",
  tilde: "\u0303",
  uml: "\u0308",
  cedil: "\u0327",
  ring: "\u030a",
};

/** Replace `&name;`, `&#123;` and `&#x7B;` by the characters they stand for. */
function decodeEntities(text: string): string {
  return text.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});?/g, (all, ref: string) => {
    if (ref[0] === "#") {
      const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : " ";
    }
    const accent = /^([a-zA-Z])(acute|grave|circ|tilde|uml|cedil|ring)$/.exec(ref);
    if (accent) return (accent[1] + ACCENTS[accent[2]]).normalize("NFC");
    return ENTITIES[ref] ?? ENTITIES[ref.toLowerCase()] ?? all;
  });
}

/**
 * Turn HTML into plain text: drop scripts, styles, comments and tags, decode
 * entities. Comments and inline tags (`<b>`, `<font>`, ...) vanish without a
 * trace, because spammers hide them inside words (`discove<!--F-->ry`);
 * every other tag becomes a space.
 */
export function htmlToText(html: string): string {
  return decodeEntities(
    html
      .replace(/<!--[\s\S]*?-->/g, "")
      .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, " ")
      .replace(/<\/?(a|b|i|u|em|strong|font|span|small|big|sub|sup)\b[^>]*>/gi, "")
      .replace(/<[^>]*>/g, " "),
  );
}

/** Does this "plain text" body look like HTML? (Much spam has no Content-Type.) */
function looksLikeHtml(text: string): boolean {
  return /<\s*(html|body|p|br|div|font|table|td|a\s|img|center|b)\b/i.test(text);
}

/**
 * Cut a multipart body into its parts. A delimiter is a line `--boundary`
 * (the last one `--boundary--`); the preamble before the first delimiter and
 * the epilogue after the last are dropped. Lines are compared with white space
 * removed, because some spam declares `boundary="=Multipart Boundary 1"` and
 * then writes `--= Multipart Boundary 1`.
 */
export function splitMultipart(body: string, boundary: string): string[] {
  const squash = (s: string) => s.replace(/\s+/g, "");
  const open = squash(`--${boundary}`);
  const close = `${open}--`;
  const parts: string[] = [];
  let current: string[] | undefined; // undefined while in the preamble
  for (const line of body.split("\n")) {
    const key = squash(line);
    if (key === open || key === close) {
      if (current) parts.push(current.join("\n"));
      current = key === close ? undefined : [];
      if (key === close) break;
    } else if (current) {
      current.push(line);
    }
  }
  if (current) parts.push(current.join("\n")); // missing closing delimiter
  return parts;
}

/**
 * The readable text of a message or MIME part. Multipart bodies are split on
 * their boundary and searched recursively; text/plain parts are preferred,
 * text/html parts are used when there is no plain text; attachments
 * (images, PGP signatures, ...) are ignored.
 */
function extractText(headers: Headers, body: string): { plain: string[]; html: string[] } {
  const type = headers.get("content-type") ?? "text/plain";
  const mime = type.split(";")[0].trim().toLowerCase();
  const boundary = headerParam(type, "boundary");
  if (mime.startsWith("multipart/") && boundary) {
    const plain: string[] = [];
    const html: string[] = [];
    for (const part of splitMultipart(body, boundary)) {
      const sub = splitMessage(part);
      const found = extractText(sub.headers, sub.body);
      plain.push(...found.plain);
      html.push(...found.html);
    }
    return { plain, html };
  }
  if (mime === "text/html") return { plain: [], html: [decodePart(body, headers)] };
  if (mime === "text/plain" || mime === "text" || !mime.includes("/")) {
    const text = decodePart(body, headers);
    return looksLikeHtml(text) ? { plain: [], html: [text] } : { plain: [text], html: [] };
  }
  return { plain: [], html: [] };
}

/** Collapse white space and long runs of the same punctuation (`-----`, `=====`). */
function tidy(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u00a0\u200b\ufeff]/g, " ")
      .replace(/([^\p{L}\p{N}\s])\1{3,}/gu, "$1$1$1")
      .replace(/\s+/g, " ")
      .trim()
  );
}

/** Cut `text` to at most `max` characters, at the last word boundary before it. */
export function truncateAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const space = text.lastIndexOf(" ", max);
  let cut = space > max * 0.75 ? space : max;
  if (/[\udc00-\udfff]/.test(text[cut])) cut -= 1; // never split a surrogate pair
  return text.slice(0, cut).trimEnd();
}

/**
 * A raw mail (as a byte string) → `"Subject: <subject>\n<cleaned body>"`,
 * truncated to {@link MAX_MAIL_CHARS} characters.
 */
export function cleanMail(raw: string): string {
  const { headers, body } = splitMessage(raw);
  const charset = headerParam(headers.get("content-type") ?? "", "charset");
  const subject = tidy(decodeEncodedWords(decodeBytes(headers.get("subject") ?? "", charset)));
  const { plain, html } = extractText(headers, body);
  const bodyText = tidy(plain.length > 0 ? plain.join("\n") : htmlToText(html.join("\n")));
  return truncateAtWord(`Subject: ${subject}\n${bodyText}`, MAX_MAIL_CHARS);
}
