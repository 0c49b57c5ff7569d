module {
  func.func @softmax(%arg0: tensor<4x5xf32>) -> tensor<4x5xf32> {
    %0 = "tir.reduce_max"(%arg0) {axes = [1]} : (tensor<4x5xf32>) -> tensor<4xf32> loc("model_script.py":11:19)
    %1 = "tir.reshape"(%0) {shape = [4, 1]} : (tensor<4xf32>) -> tensor<4x1xf32> loc("model_script.py":11:19)
    %2 = "tir.broadcast"(%1) {shape = [4, 5], dims = [0, 1]} : (tensor<4x1xf32>) -> tensor<4x5xf32> loc("model_script.py":11:15)
    %3 = "tir.sub"(%arg0, %2) : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32> loc("model_script.py":11:15)
    %4 = "tir.exp"(%3) : (tensor<4x5xf32>) -> tensor<4x5xf32> loc("model_script.py":11:8)
    %5 = "tir.reduce_sum"(%4) {axes = [1]} : (tensor<4x5xf32>) -> tensor<4xf32> loc("model_script.py":12:15)
    %6 = "tir.reshape"(%5) {shape = [4, 1]} : (tensor<4xf32>) -> tensor<4x1xf32> loc("model_script.py":12:15)
    %7 = "tir.broadcast"(%6) {shape = [4, 5], dims = [0, 1]} : (tensor<4x1xf32>) -> tensor<4x5xf32> loc("model_script.py":12:11)
    %8 = "tir.div"(%4, %7) : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32> loc("model_script.py":12:11)
    "func.return"(%8) : (tensor<4x5xf32>) -> () loc("model_script.py":10:0)
  }
}
