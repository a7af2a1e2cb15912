#!/usr/bin/env bash
# The floors of the house: a module includes only its own floor and those
# below it, never one above (agent/README.md, "Floors"). Fails naming each
# include that runs back up.
set -euo pipefail
cd "$(dirname "$0")/.."
floors=(util config net verdict "checks endpoint arp_guard attribution fleet" drain daemon cli)
declare -A level
for i in "${!floors[@]}"; do
  for m in ${floors[$i]}; do level[$m]=$i; done
done
bad=0
for m in "${!level[@]}"; do
  for f in $(find "agent/$m" "include/rsagent/$m" -name '*.[ch]pp' 2>/dev/null); do
    while IFS= read -r inc; do
      to=${inc#rsagent/}; to=${to%%/*}
      [[ -n "${level[$to]+x}" ]] || { echo "$f includes $inc: module $to has no floor"; bad=1; continue; }
      if (( level[$to] > level[$m] )); then
        echo "$f ($m, floor ${level[$m]}) includes $inc ($to, floor ${level[$to]}): an arrow up"
        bad=1
      elif (( level[$to] == level[$m] )) && [[ "$to" != "$m" ]]; then
        echo "$f ($m) includes $inc ($to): modules on one floor do not include each other"
        bad=1
      fi
    done < <(grep -ho '#include "rsagent/[^"]*"' "$f" | sed 's/#include "//; s/"$//')
  done
done
(( bad == 0 )) && echo "floors: no include runs back up"
exit $bad
