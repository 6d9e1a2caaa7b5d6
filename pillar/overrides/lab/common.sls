# Lab: systemd-nspawn containers have no CAP_SYS_TIME. chronyd runs with -x
# (never adjusts the clock) and without the unit's capability condition.
common:
  timesync:
    container: true
