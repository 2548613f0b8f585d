/**
 * The few pieces of S3's XML that the s3:// store reads and writes.
 *
 * @module
 */

/** Decodes the five XML entities and numeric character references. */
export function xmlDecode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, e: string) => {
    const l = e.toLowerCase();
    if (l === "amp") return "&";
    if (l === "lt") return "<";
    if (l === "gt") return ">";
    if (l === "quot") return '"';
    if (l === "apos") return "'";
    const cp = l.startsWith("#x") ? parseInt(l.slice(2), 16) : parseInt(l.slice(1), 10);
    return String.fromCodePoint(cp);
  });
}

/** Escapes text for an XML element. */
export function xmlEncode(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** The decoded text of the first `<tag>` element in `xml`, if any. */
export function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? xmlDecode(m[1]) : undefined;
}

/** The raw inner XML of every `<tag>` element in `xml`. */
export function xmlBlocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "g");
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(m[1]);
  return out;
}

/** An S3 error document: `<Error><Code>..</Code><Message>..</Message></Error>`. */
export interface S3ErrorBody {
  code?: string;
  message?: string;
}

/** The code and message of an S3 error document (empty when the text is not one). */
export function parseS3Error(text: string): S3ErrorBody {
  if (!/<Error[\s>]/.test(text)) return {};
  return { code: xmlText(text, "Code"), message: xmlText(text, "Message") };
}

/** One page of a ListObjectsV2 answer. */
export interface ListPage {
  keys: { key: string; size: number; etag?: string }[];
  truncated: boolean;
  next?: string;
}

/** Parses a ListObjectsV2 answer. */
export function parseListPage(xml: string): ListPage {
  const keys = xmlBlocks(xml, "Contents").map((c) => ({
    key: xmlText(c, "Key") ?? "",
    size: Number(xmlText(c, "Size") ?? "0"),
    etag: xmlText(c, "ETag"),
  }));
  return {
    keys,
    truncated: (xmlText(xml, "IsTruncated") ?? "false").trim() === "true",
    next: xmlText(xml, "NextContinuationToken"),
  };
}

/** The body of CompleteMultipartUpload. */
export function completeMultipartXml(parts: { number: number; etag: string }[]): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload>' +
    parts.map((p) =>
      `<Part><PartNumber>${p.number}</PartNumber><ETag>${xmlEncode(p.etag)}</ETag></Part>`
    ).join("") + "</CompleteMultipartUpload>";
}
