#!/bin/sh
# Prepares a checkout of an earlier commit for `pnpm bench --before DIR`: a worktree at COMMIT with this
# bench/ copied in (the earlier commit's own bench does not speak this one's protocol). The seds map the
# few core calls the bench makes to their names before the redesign of issue 18, for 4cd75f1 and earlier.
# usage: sh bench/before.sh COMMIT DIR
set -eu
commit=$1 dir=$2
git worktree add --detach "$dir" "$commit"
rm -rf "$dir/bench" && cp -r bench "$dir/bench"
cd "$dir/bench"
rm -f core.ts scale.ts workers.ts profile-core.ts ./*.test.ts
# Only a commit from before the redesign needs the old names; a later one has the new ones.
if git merge-base --is-ancestor "$commit" 4cd75f1; then
  sed -i "s#@polykms/core/threads#@polykms/core#; s/kms\.secrets\.get(/kms.getSecret(/; s/kms\.tenants\.create(/kms.createTenant(/; s/kms\.driver/kms.store.driver/" ./*.ts
fi
sed -i "/^import.*bench\(Core\|Scale\|Workers\)/d; /^ *\(core: benchCore\|scale: benchScale\|workers: benchWorkers\),$/d; s/core: benchCore,//; s/scale: benchScale,//; s/{ workers: benchWorkers }/{}/" suites.ts
cd .. && npx -y pnpm@10.34.9 install --frozen-lockfile
