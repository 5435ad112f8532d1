#!/bin/sh
# Include direction check: the source folders are layers, lowest first,
#     base < jni < shim/registry < shim/ctl < launcher
# and a folder may include headers only from its own folder or a folder
# below it (generated proto headers, "x.pb-c.h", from shim/ctl and up;
# etcd's, "etcd_*.pb-c.h", from shim/registry and up).
# Prints every violation as file:line: offending include, exits 1 if any.
# Run from the repository root (make check-layers does).
set -u

LAYERS="base jni shim/registry shim/ctl launcher"

# rank FOLDER: its position in LAYERS (0 = lowest), or nothing if not a layer.
rank() {
	r=0
	for l in $LAYERS; do
		if [ "$l" = "$1" ]; then
			echo "$r"
			return
		fi
		r=$((r + 1))
	done
}

CTL_RANK=$(rank shim/ctl)
status=0
for dir in $LAYERS; do
	own=$(rank "$dir")
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -f "$f" ] || continue
		# "line:header" for each #include "..." line
		hits=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
			sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
		[ -n "$hits" ] || continue
		for hit in $hits; do
			line=${hit%%:*}
			inc=${hit#*:}
			case "$inc" in
			etcd_*.pb-c.h)
				# etcd's wire messages belong to the etcd discovery backend.
				if [ "$own" -lt "$(rank shim/registry)" ]; then
					echo "$f:$line: includes \"$inc\" (etcd's proto headers are for shim/registry and up)" >&2
					status=1
				fi
				continue ;;
			*.pb-c.h)
				if [ "$own" -lt "$CTL_RANK" ]; then
					echo "$f:$line: includes \"$inc\" (generated proto headers are for shim/ctl and up)" >&2
					status=1
				fi
				continue ;;
			esac
			folder=${inc%/*}
			if [ "$folder" = "$inc" ]; then
				echo "$f:$line: includes \"$inc\" (not a path from the repository root)" >&2
				status=1
				continue
			fi
			r=$(rank "$folder")
			if [ -z "$r" ]; then
				echo "$f:$line: includes \"$inc\" (not in a layer folder: $LAYERS)" >&2
				status=1
			elif [ "$r" -gt "$own" ]; then
				echo "$f:$line: includes \"$inc\": $dir must not include from $folder (layers: base < jni < shim/registry < shim/ctl < launcher)" >&2
				status=1
			fi
		done
	done
done
[ "$status" -eq 0 ] && echo "check-layers: include directions OK"
exit "$status"
