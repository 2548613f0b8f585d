/**
 * The `bin/sbang` script of an install tree. Spack rewrites shebang lines that are too long
 * for the kernel to `#!/bin/sh <root>/bin/sbang` and keeps the original shebang as the second
 * line; `sbang` reads that line and runs the real interpreter. This is an independent POSIX
 * shell implementation of the same contract (interpreter lines starting with `#!`, `//!`,
 * `--!` or `<?php #!` on line 1 or 2; perl and ruby get `-x`).
 *
 * @module
 */

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
