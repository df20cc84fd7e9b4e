from espia_cluster.cli import main

main()
