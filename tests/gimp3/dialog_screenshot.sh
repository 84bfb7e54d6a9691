#!/bin/sh
# Screenshot of the plug-in dialog for gimp_plugin/README.md (not a test). Runs INSIDE the
# chroot with xvfb, x11-apps and netpbm installed; copy this and dialog_batch.py to /job/.
# Writes /job/out/screen.ppm (crop the dialog from its top-left corner).
Xvfb :99 -screen 0 1200x1500x24 >/job/out/xvfb.log 2>&1 &
XP=$!
sleep 2
cd /job && DISPLAY=:99 gimp-3.0 -n -df --batch-interpreter python-fu-eval -b - < /job/dialog_batch.py >/job/out/gimp.log 2>&1 &
GP=$!
sleep 30
xwd -root -display :99 -silent > /job/out/screen.xwd
xwdtopnm /job/out/screen.xwd > /job/out/screen.ppm 2>/dev/null
kill $GP; sleep 1; kill -9 $GP 2>/dev/null; pkill -P $GP 2>/dev/null
kill $XP
