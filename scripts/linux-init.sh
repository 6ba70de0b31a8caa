#!/bin/busybox sh
# /init of the test initramfs (scripts/fetch-linux-guests.sh builds it; tests/linux.rs checks
# each section's output). Busybox provides every command.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo '== vx86 init =='
echo '-- uname'
uname -a
echo '-- cpuinfo'
cat /proc/cpuinfo
echo '-- md5'
yes vx86 | head -c 16777216 > /tmp/blob
md5sum /tmp/blob
echo '-- loop'
i=0
s=0
while [ $i -lt 100000 ]; do
    i=$((i + 1))
    s=$(((s * 31 + i) % 1000003))
done
echo "loop $i $s"
echo '-- poweroff'
poweroff -f
