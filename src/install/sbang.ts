/**
 * The `bin/sbang` script of an install tree. Spack rewrites shebang lines that are too long
 * for the kernel to `#!/bin/sh <root>/bin/sbang` and keeps the original shebang as the second
 * line; `sbang` reads that line and runs the real interpreter. This is an independent POSIX
 * shell implementation of the same contract (interpreter lines starting with `#!`, `//!`,
 * `--!` or `<?php #!` on line 1 or 2; perl and ruby get `-x`).
 *
 * @module
 */
import { concatBytes } from "../core/streams.ts";

/** The script text. */
export const SBANG_SCRIPT: string = `#!/bin/sh
#
# sbang: run a script whose interpreter line is too long for the kernel.
#
# A script starting with
#     #!/bin/sh /path/to/bin/sbang
#     #!/very/long/path/to/interpreter --args
# is run as "/very/long/path/to/interpreter --args script ...".
# Written for spackle; compatible with the sbang lines of Spack install trees.

fail() {
    echo "sbang: $*" 1>&2
    exit 1
}

run="exec"
[ -n "\${SBANG_DEBUG}" ] && run="echo "

script="$1"
[ -n "$script" ] || fail "error: sbang requires exactly one argument"
[ -f "$script" ] || fail "$script: no such file or directory"

interp_line=""
n=0
while [ $n -lt 2 ] && IFS= read -r line; do
    case "$line" in
        "#!"*) interp_line="\${line#??}" ;;
        "//!"*) interp_line="\${line#???}" ;;
        "--!"*) interp_line="\${line#???}" ;;
        "<?php #!"*) interp_line="\${line#<?php \\#!}"; interp_line="\${interp_line% ?>}" ;;
    esac
    n=$((n + 1))
done < "$script"

[ -n "$interp_line" ] || fail "error: sbang found no interpreter in $script"

IFS=' ' read -r interp first rest <<EOF
$interp_line
EOF

is_interp() {
    [ "\${interp##*/}" = "$1" ] || { [ "$interp" = "/usr/bin/env" ] && [ "$first" = "$1" ]; }
}

is_interp sbang && fail "error: refusing to re-execute sbang to avoid infinite loop."

if is_interp perl || is_interp ruby; then
    # shellcheck disable=SC2086
    $run $interp_line -x "$@"
else
    # shellcheck disable=SC2086
    $run $interp_line "$@"
fi
`;

/** The kernel's shebang length limit on Linux (Spack's `system_shebang_limit`). */
export const SHEBANG_LIMIT = 127;
const SPACK_SHEBANG_LIMIT = 4096;

/**
 * Spack's sbang post-install hook for one file's content: when it starts with a shebang line
 * longer than the kernel accepts, the line `#!/bin/sh <sbang>` is put first and the original
 * line second (as `--!`, `//!` or `<?php ... ?>` for lua, node and php). Returns the new
 * content, or undefined when nothing changes.
 */
export function filterShebang(data: Uint8Array, sbangPath: string): Uint8Array | undefined {
  if (data[0] !== 0x23 || data[1] !== 0x21) return undefined; // "#!"
  let nl = data.indexOf(0x0a);
  const limit = Math.min(data.byteLength, SPACK_SHEBANG_LIMIT);
  if (nl < 0 || nl >= limit) {
    if (limit === SPACK_SHEBANG_LIMIT) return undefined; // no end of line within the limit
    nl = limit - 1;
  }
  const line = data.subarray(0, nl + 1); // with its newline, when there is one
  if (line.byteLength <= SHEBANG_LIMIT) return undefined;
  const enc = new TextEncoder();
  const sbangLine = enc.encode(`#!/bin/sh ${sbangPath}\n`);
  if (line.byteLength === sbangLine.byteLength && line.every((b, i) => b === sbangLine[i])) {
    return undefined;
  }
  // The interpreter: after "#!" and blanks, up to a blank, NUL or newline.
  let i = 2;
  while (i < line.byteLength && (line[i] === 0x20 || line[i] === 0x09)) i++;
  let j = i;
  while (j < line.byteLength && ![0x20, 0x09, 0x00, 0x0a].includes(line[j])) j++;
  if (j === i) return undefined;
  const interp = new TextDecoder("latin1").decode(line.subarray(i, j));
  let second: Uint8Array;
  if (interp.endsWith("/lua") || interp.endsWith("/luajit")) {
    second = concatBytes([enc.encode("--!"), line.subarray(2)]);
  } else if (interp.endsWith("/node")) {
    second = concatBytes([enc.encode("//!"), line.subarray(2)]);
  } else if (interp.endsWith("/php")) {
    second = concatBytes([enc.encode("<?php "), line, enc.encode(" ?>")]);
  } else second = line;
  return concatBytes([sbangLine, second, data.subarray(line.byteLength)]);
}
