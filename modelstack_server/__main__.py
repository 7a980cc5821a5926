from modelstack_server.server import main

main()
